"""Describing a model as JSON (its architecture) plus named tensors (its weights).

Nodes, each a JSON object with one tag (plain numbers, strings, booleans and null stand
for themselves):

* ``{"chain": [[name, node], ...]}``, ``{"sequential": [[name, node], ...]}``
* ``{"template": "module.Class", "fields": [[field, node], ...]}``
* ``{"module": "torch.nn.Linear", "args": [[arg, node], ...], "state": [[key, tensor key], ...]}``
* ``{"function": "torch.exp"}``; ``{"ref": i}``: the i-th layer met, for shared layers
* ``{"param": key, "grad": bool}``, ``{"tensor": key}``: a stored tensor (shared ones share a key)
* ``{"tuple": [...]}``, ``{"list": [...]}``, ``{"dict": [[key, node], ...]}``,
  ``{"float": "nan"}``, ``{"dtype": "float32"}``
"""

from __future__ import annotations

import math
import sys
from typing import Any

import torch
from torch import Tensor, nn

from fluxtorch._template import Template
from fluxtorch.layers import Chain
from fluxtorch.storage._construct import constructor_args, rebuild_differs
from fluxtorch.storage._format import SaveError
from fluxtorch.storage._names import class_name, function_name

_FIX_FUNCTION = (
    "Fix: use a named function from fluxtorch or torch (e.g. relu, torch.exp), or define it with "
    "`def` at module level and call fluxtorch.register(fn) before saving and before loading."
)


def describe(model: Any, root: str) -> tuple[Any, dict[str, Tensor]]:
    """The JSON architecture of ``model`` and its tensors by key; refuses what a name cannot store."""
    describer = _Describer()
    return describer.layer(model, root, ""), describer.tensors


def _shown(obj: Any) -> str:
    """A one-line repr, short enough for an error message."""
    text = " ".join(repr(obj).split())
    return text if len(text) <= 80 else text[:77] + "..."


def _compiled(obj: Any) -> bool:
    """Whether ``obj`` is what ``torch.compile`` returns for a module (without importing dynamo)."""
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")
    return eval_frame is not None and isinstance(obj, eval_frame.OptimizedModule)


class _Describer:
    def __init__(self) -> None:
        self.tensors: dict[str, Tensor] = {}
        self.keys: dict[int, str] = {}  # id(tensor) -> key, so shared tensors are stored once
        self.layers: dict[int, int] = {}  # id(module) -> position met, so shared layers stay shared

    def layer(self, obj: Any, path: str, key: str) -> Any:
        if _compiled(obj):  # torch.compile(model): store the model it compiles
            obj = obj._orig_mod
        if not isinstance(obj, nn.Module):
            return self.function(obj, path)
        if id(obj) in self.layers:
            return {"ref": self.layers[id(obj)]}
        self.layers[id(obj)] = len(self.layers)
        if type(obj) is Chain:  # a subclass may add behaviour a Chain node would lose
            return {"chain": self.children(zip(obj._names, obj._layers), path, key)}
        if type(obj) is nn.Sequential:
            return {"sequential": self.children(obj._modules.items(), path, key)}
        name = class_name(type(obj))
        if name is not None and isinstance(obj, Template):
            return self.template(obj, name, path, key)
        if name is not None:
            return self.constructed(obj, name, path, key)
        raise SaveError(
            f"save cannot store {path}, a {type(obj).__qualname__} ({_shown(obj)}): it is an nn.Module "
            f"that is not a fluxtorch template, and its class has no name a file could use. Fix: write "
            f"it with @net, or call fluxtorch.register({type(obj).__name__}) if it keeps each "
            f"constructor argument as an attribute of the same name; or use save_weights/torch.save."
        )

    def children(self, items: Any, path: str, key: str) -> list:
        return [
            [name, self.layer(child, f"{path}[{name}]" if name.isdigit() else f"{path}.{name}", f"{key}{name}.")]
            for name, child in items
        ]

    def function(self, f: Any, path: str) -> Any:
        name = function_name(f)
        if name is not None:
            return {"function": name}
        qualname = getattr(f, "__qualname__", "")
        if "<lambda>" in qualname:
            what = "a lambda, which has no name a file could store"
        elif "<locals>" in qualname:
            what = f"the local function {qualname}, which loading could not find by name"
        elif callable(f):
            what = f"{getattr(f, '__name__', type(f).__name__)}, a function fluxtorch does not know by name"
        else:
            what = f"a {type(f).__name__}, which is not a layer"
        raise SaveError(
            f"save cannot store {path}: it is {what}. A file stores functions by name so that "
            f"loading it never runs code from it. {_FIX_FUNCTION}"
        )

    def template(self, obj: Template, name: str, path: str, key: str) -> dict:
        fields = [field.name for field in type(obj)._fields]
        extra = sorted((set(obj._parameters) | set(obj._modules) | set(obj._buffers)) - set(fields))
        if extra:
            raise SaveError(
                f"save cannot store {path} ({_shown(obj)}): it holds {extra} besides its declared "
                f"fields {fields}, so rebuilding it from its fields would lose them. Fix: declare "
                f"them as fields of the template (Param, Model or State)."
            )
        return {"template": name, "fields": [
            [field, self.value(getattr(obj, field), f"{path}.{field}", f"{key}{field}")] for field in fields
        ]}

    def constructed(self, obj: nn.Module, name: str, path: str, key: str) -> dict:
        args = constructor_args(obj)
        why = "its constructor keeps an argument under another name, or none at all" if args is None else None
        why = why or rebuild_differs(obj, args)
        if why:
            raise SaveError(
                f"save cannot store {path} ({_shown(obj)}) by its constructor arguments: {why}. "
                f"Fix: write it as a fluxtorch template (@net), or use save_weights/torch.save."
            )
        encoded = [[arg, self.value(v, f"{path}.{arg}", f"{key}{arg}")] for arg, v in args.items()]
        inner = tuple(f"{arg}." for arg, v in args.items() if isinstance(v, nn.Module))  # stored with their layer
        state = [
            [local, self.tensor_key(t, f"{key}{local}")]
            for local, t in obj.state_dict(keep_vars=True).items() if not local.startswith(inner)
        ]
        return {"module": name, "args": encoded, "state": state}

    def value(self, v: Any, path: str, key: str) -> Any:
        if v is None or isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else {"float": repr(v)}
        if isinstance(v, Tensor):
            stored = self.tensor_key(v, key)
            return {"param": stored, "grad": v.requires_grad} if isinstance(v, nn.Parameter) else {"tensor": stored}
        if type(v) in (tuple, list, torch.Size):  # not namedtuples: loading would lose their type
            items = [self.value(x, f"{path}[{i}]", f"{key}.{i}") for i, x in enumerate(v)]
            return {"list" if type(v) is list else "tuple": items}
        if type(v) is dict and all(isinstance(k, str) for k in v):
            return {"dict": [[k, self.value(x, f"{path}[{k!r}]", f"{key}.{k}")] for k, x in v.items()]}
        if isinstance(v, torch.dtype):
            return {"dtype": str(v).removeprefix("torch.")}
        if isinstance(v, nn.Module) or (callable(v) and not isinstance(v, type)):
            return self.layer(v, path, f"{key}.")
        raise SaveError(
            f"save cannot store {path}: it holds a {type(v).__name__} ({v!r:.60}); a file holds "
            f"numbers, strings, tuples, lists, dicts, dtypes, tensors, layers and named functions. "
            f"Fix: keep settings of those kinds, or use torch.save."
        )

    def tensor_key(self, t: Tensor, key: str) -> str:
        if id(t) in self.keys:
            return self.keys[id(t)]
        while key in self.tensors:
            key += "_"
        self.keys[id(t)] = key
        self.tensors[key] = t
        return key
