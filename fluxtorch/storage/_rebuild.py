"""Rebuilding a model from its JSON architecture and tensors, trusting nothing in the file.

Every node is checked against the schema of ``_describe``; classes and functions come
only from ``_names`` (fluxtorch, torch, templates defined in the program, registered
names).  Templates are rebuilt from their fields through the generic template
constructor, so no user ``__init__`` runs; other layer classes are built on the meta
device and given the file's tensors, so no size in the file allocates memory.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from fluxtorch._template import Template
from fluxtorch.layers import Chain
from fluxtorch.storage._construct import construct_on_meta
from fluxtorch.storage._names import resolve_class, resolve_function

MAX_DEPTH = 200


class Unreadable(Exception):
    """A node the loader cannot rebuild; ``load`` turns it into a ``LoadError`` naming the file."""


def rebuild(architecture: Any, tensors: dict[str, Tensor], root: str = "model") -> Any:
    """The model described by ``architecture``, holding ``tensors`` (each must be used)."""
    builder = _Builder(tensors)
    model = builder.node(architecture, root, 0)
    unused = sorted(set(tensors) - builder.used)
    if unused:
        raise Unreadable(f"the file holds tensors its architecture never uses: {unused[:10]}")
    return model


def _pairs(value: Any, where: str, second: type | None = None) -> list:
    if not isinstance(value, list) or not all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and (second is None or isinstance(p[1], second))
        for p in value
    ):
        raise Unreadable(f"{where} should be a list of [name, value] pairs")
    return value


class _Builder:
    def __init__(self, tensors: dict[str, Tensor]) -> None:
        self.tensors = tensors
        self.used: set[str] = set()
        self.layers: list[Any] = []
        self.params: dict[str, nn.Parameter] = {}

    def node(self, node: Any, path: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise Unreadable(f"{path} is nested over {MAX_DEPTH} levels deep")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or not node:
            raise Unreadable(f"{path} is a {type(node).__name__} where a tagged object was expected")
        tag = next(iter(node))
        method = getattr(self, f"tag_{tag}", None)
        if method is None:
            raise Unreadable(f"{path} has unknown kind {tag!r:.40}")
        return method(node, path, depth + 1)

    def expect(self, node: dict, keys: dict[str, type], path: str) -> None:
        if set(node) != set(keys) or not all(isinstance(node[k], t) for k, t in keys.items()):
            raise Unreadable(f"{path} should have exactly {sorted(keys)} of kinds {[t.__name__ for t in keys.values()]}")

    def reserve(self) -> int:
        self.layers.append(None)
        return len(self.layers) - 1

    def tag_ref(self, node: dict, path: str, depth: int) -> Any:
        self.expect(node, {"ref": int}, path)
        index = node["ref"]
        if not 0 <= index < len(self.layers) or self.layers[index] is None:
            raise Unreadable(f"{path} refers to layer {index}, which is not built before it")
        return self.layers[index]

    def tag_chain(self, node: dict, path: str, depth: int) -> Chain:
        self.expect(node, {"chain": list}, path)
        index, chain = self.reserve(), Chain()
        for name, child in _pairs(node["chain"], path):
            chain._add(name, self.node(child, f"{path}[{name}]" if name.isdigit() else f"{path}.{name}", depth))
        self.layers[index] = chain
        return chain

    def tag_sequential(self, node: dict, path: str, depth: int) -> nn.Sequential:
        self.expect(node, {"sequential": list}, path)
        index, sequential = self.reserve(), nn.Sequential()
        for name, child in _pairs(node["sequential"], path):
            layer = self.node(child, f"{path}[{name}]", depth)
            if not isinstance(layer, nn.Module):
                raise Unreadable(f"{path}[{name}] should be an nn.Module in an nn.Sequential")
            sequential.add_module(name, layer)
        self.layers[index] = sequential
        return sequential

    def tag_template(self, node: dict, path: str, depth: int) -> Template:
        self.expect(node, {"template": str, "fields": list}, path)
        cls = resolve_class(node["template"])
        if cls is None or not issubclass(cls, Template):
            raise Unreadable(
                f"{path} is a {node['template']!r:.80}, a template this program does not define. "
                f"Fix: import or define that @net class (or fluxtorch.register it) before loading"
            )
        pairs = _pairs(node["fields"], path)
        stored, declared = [name for name, _ in pairs], [field.name for field in cls._fields]
        if stored != declared:
            raise Unreadable(f"{path}: the file's {cls.__name__} has fields {stored}, this program's has {declared}")
        index = self.reserve()
        values = {name: self.node(value, f"{path}.{name}", depth) for name, value in pairs}
        layer = cls.__new__(cls)
        Template.__init__(layer, **values)
        self.layers[index] = layer
        return layer

    def tag_module(self, node: dict, path: str, depth: int) -> nn.Module:
        self.expect(node, {"module": str, "args": list, "state": list}, path)
        cls = resolve_class(node["module"])
        if cls is None or not issubclass(cls, nn.Module) or issubclass(cls, (Template, Chain)):
            raise Unreadable(f"{path} is a {node['module']!r:.80}, a class this program does not know. "
                             f"Fix: import it and fluxtorch.register it before loading")
        index = self.reserve()
        args = {name: self.node(value, f"{path}.{name}", depth) for name, value in _pairs(node["args"], path)}
        state = {local: self.tensor(key, path) for local, key in _pairs(node["state"], path, str)}
        layer = construct_on_meta(cls, args)
        inner = tuple(f"{arg}." for arg, value in args.items() if isinstance(value, nn.Module))
        result = layer.load_state_dict(state, strict=False, assign=True)
        missing = [key for key in result.missing_keys if not key.startswith(inner)]
        if missing or result.unexpected_keys:
            raise Unreadable(f"{path}: its stored tensors {sorted(state)} do not match {cls.__name__}'s")
        if any(t.is_meta for t in (*layer.parameters(), *layer.buffers())):
            raise Unreadable(f"{path}: its stored tensors do not cover all of {cls.__name__}'s")
        self.layers[index] = layer
        return layer

    def tag_function(self, node: dict, path: str, depth: int) -> Any:
        self.expect(node, {"function": str}, path)
        f = resolve_function(node["function"])
        if f is None:
            raise Unreadable(
                f"{path} is the function {node['function']!r:.80}, which is not in fluxtorch, torch or "
                f"the registered names. Fix: fluxtorch.register it under that name before loading"
            )
        return f

    def tag_param(self, node: dict, path: str, depth: int) -> nn.Parameter:
        self.expect(node, {"param": str, "grad": bool}, path)
        key = node["param"]
        if key not in self.params:
            tensor = self.tensor(key, path)
            grad = node["grad"] and (tensor.is_floating_point() or tensor.is_complex())
            self.params[key] = nn.Parameter(tensor, requires_grad=grad)
        return self.params[key]

    def tag_tensor(self, node: dict, path: str, depth: int) -> Tensor:
        self.expect(node, {"tensor": str}, path)
        return self.tensor(node["tensor"], path)

    def tensor(self, key: str, path: str) -> Tensor:
        if key not in self.tensors:
            raise Unreadable(f"{path} needs tensor {key!r:.80}, which the file does not hold")
        self.used.add(key)
        return self.tensors[key]

    def tag_tuple(self, node: dict, path: str, depth: int) -> tuple:
        self.expect(node, {"tuple": list}, path)
        return tuple(self.node(x, f"{path}[{i}]", depth) for i, x in enumerate(node["tuple"]))

    def tag_list(self, node: dict, path: str, depth: int) -> list:
        self.expect(node, {"list": list}, path)
        return [self.node(x, f"{path}[{i}]", depth) for i, x in enumerate(node["list"])]

    def tag_dict(self, node: dict, path: str, depth: int) -> dict:
        self.expect(node, {"dict": list}, path)
        return {k: self.node(v, f"{path}[{k!r}]", depth) for k, v in _pairs(node["dict"], path)}

    def tag_float(self, node: dict, path: str, depth: int) -> float:
        self.expect(node, {"float": str}, path)
        if node["float"] not in ("nan", "inf", "-inf"):
            raise Unreadable(f"{path} should be nan, inf or -inf")
        return float(node["float"])

    def tag_dtype(self, node: dict, path: str, depth: int) -> torch.dtype:
        self.expect(node, {"dtype": str}, path)
        dtype = getattr(torch, node["dtype"], None) if node["dtype"].isidentifier() else None
        if not isinstance(dtype, torch.dtype):
            raise Unreadable(f"{path} names no torch dtype")
        return dtype

