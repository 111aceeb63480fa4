"""Anonymous templates: ``net(fn)`` is a model made of a function and the parameters it uses.

``d1 = net(lambda x: x @ d.W + d.b)`` is an ``nn.Module`` whose parameters are ``d``'s,
so ``torch.optim.SGD(d1.parameters(), lr=0.1)`` trains them.  The parameters are
found from what the function refers to: its closure cells, the globals its code
names and its default arguments, following attribute chains such as ``d.W`` and
looking into lists, tuples and dicts.  An ``nn.Module`` found there is registered
as a sub-module under the name the function uses; a tensor that requires grad (an
``nn.Parameter`` or a leaf created with ``requires_grad=True``) is registered as a
parameter.  The very tensor the function reads is registered, not a copy, so what
the optimizer updates is what the function computes with.

What a name refers to is looked up once, when ``net`` is called: rebinding the name
afterwards is not seen.
"""

from __future__ import annotations

import dis
import types
from typing import Any, Callable, Iterator

from torch import Tensor, nn

from fluxtorch._convert import at_edge
from fluxtorch._naming import callable_name, with_count
from fluxtorch.debug._notes import annotate

_LIBRARIES = ("torch", "fluxtorch", "numpy", "builtins", "functools", "operator", "math")
_DEPTH = 4  # how far into containers and helper functions the search goes


class AnonymousNet(nn.Module):
    """A function as a model: calling it calls ``fn``; its parameters are those ``fn`` uses.

    Made by ``net(fn)``; the function stays reachable as ``.fn``.

    >>> d = Affine(3, 2)
    >>> d1 = net(lambda x: x @ d.W + d.b)
    >>> d1
    net(<lambda>)  # 8 parameters
    >>> [name for name, _ in d1.named_parameters()]
    ['d.W', 'd.b']
    >>> torch.equal(d1(torch.ones(4, 3)), d(torch.ones(4, 3)))
    True
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        if isinstance(fn, nn.Module):
            self.add_module("fn", fn)
        else:
            self.__dict__["fn"] = fn
        modules, tensors = _found(fn)
        for path, module in modules.items():
            _holder(self, path[:-1]).add_module(_free_name(_holder(self, path[:-1]), path[-1]), module)
        known = {id(p) for m in modules.values() for p in m.parameters()}
        for path, tensor in tensors.items():
            if id(tensor) not in known:  # reached both directly and through a module: keep one
                holder = _holder(self, path[:-1])
                holder._parameters[_free_name(holder, path[-1])] = tensor  # the tensor itself

    def forward(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        if hasattr(x, "rewrap"):  # a Batch (or Seq) in gives a Batch out
            return x.rewrap(self.forward(x.raw, *args, **kwargs))
        x = at_edge(x, who=repr(self))
        try:
            return self.fn(x, *args, **kwargs)
        except Exception as err:
            annotate(err, self, x=x)
            raise

    def _inner_repr(self) -> str:
        return f"net({callable_name(self.fn)})"

    def __repr__(self) -> str:
        return with_count(self._inner_repr(), self)


def anonymous_net(fn: Callable[..., Any]) -> AnonymousNet:
    """``net(fn)`` for a function: see ``AnonymousNet``; anything not callable is refused."""
    if not callable(fn):
        raise TypeError(
            f"net takes a class (to make a template) or a function (to make a model of it); "
            f"got {type(fn).__name__} {fn!r:.60}. Fix: write `@net` above `class MyLayer: ...`, "
            f"or pass a function, e.g. net(lambda x: x @ d.W + d.b)."
        )
    return AnonymousNet(fn)


def _found(fn: Any) -> tuple[dict[tuple[str, ...], nn.Module], dict[tuple[str, ...], Tensor]]:
    """The modules and trainable tensors ``fn`` refers to, keyed by the path it reaches them by."""
    modules: dict[tuple[str, ...], nn.Module] = {}
    tensors: dict[tuple[str, ...], Tensor] = {}
    seen: set[int] = set()

    def keep(path: tuple[str, ...], value: Any, depth: int) -> bool:
        """Record ``value`` if it is a model or a parameter; True when the search stops here."""
        if id(value) in seen or depth > _DEPTH:
            return True
        while path in modules or path in tensors:  # two helpers both calling something W
            path = (*path[:-1], path[-1] + "_")
        if isinstance(value, nn.Module):
            seen.add(id(value))
            modules[path] = value
        elif isinstance(value, Tensor):
            seen.add(id(value))
            if value.requires_grad:
                tensors[path] = _trainable(value, path, fn)
        elif isinstance(value, types.MethodType) and isinstance(value.__self__, nn.Module):
            return keep(path, value.__self__, depth)
        elif isinstance(value, types.FunctionType):
            seen.add(id(value))
            if not (value.__module__ or "").startswith(_LIBRARIES):
                for sub, item in _chains(value):
                    follow(sub, item, depth + 1)
        elif isinstance(value, (list, tuple)):
            seen.add(id(value))
            for i, item in enumerate(value):
                keep((*path, str(i)), item, depth + 1)
        elif isinstance(value, dict):
            seen.add(id(value))
            for key, item in value.items():
                if isinstance(key, str) and key.isidentifier():
                    keep((*path, key), item, depth + 1)
        else:
            return False
        return True

    def follow(chain: tuple[str, ...], root: Any, depth: int) -> None:
        """Walk ``root.a.b...`` along ``chain`` until a model or a parameter turns up."""
        value = root
        for i in range(len(chain)):
            if i:
                try:
                    value = getattr(value, chain[i])
                except Exception:  # noqa: BLE001 - an attribute that fails to read holds nothing
                    return
            if keep(chain[: i + 1], value, depth):
                return

    bound = {}
    if isinstance(fn, types.MethodType) and isinstance(fn.__func__, types.FunctionType):
        code = fn.__func__.__code__
        bound = {code.co_varnames[0]: fn.__self__} if code.co_argcount else {}
        fn = fn.__func__
    if isinstance(fn, types.FunctionType):
        for chain, root in _chains(fn, bound):
            follow(chain, root, 0)
    return modules, tensors


def _chains(fn: types.FunctionType, bound: dict | None = None) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Each ``name.attr.attr`` the code of ``fn`` reads from outside, with ``name``'s value.

    Outside means closure cells, globals, default arguments and ``bound`` (``self`` of a
    bound method).
    """
    code = fn.__code__
    cells = {}
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            cells[name] = cell.cell_contents
        except ValueError:  # a closure variable not assigned yet
            pass
    defaults = dict(zip(code.co_varnames[: code.co_argcount][::-1], (fn.__defaults__ or ())[::-1]))
    defaults.update(fn.__kwdefaults__ or {})
    defaults.update(bound or {})
    for inner, top in _codes(code):
        chain: list[str] = []
        root: Any = None
        for ins in dis.get_instructions(inner):
            if chain and ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and isinstance(ins.argval, str):
                chain.append(ins.argval)
                continue
            if chain:
                yield tuple(chain), root
                chain = []
            name = ins.argval
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(name, str):
                if name in fn.__globals__:
                    chain, root = [name], fn.__globals__[name]
            elif ins.opname in ("LOAD_DEREF", "LOAD_CLASSDEREF") and name in cells:
                chain, root = [name], cells[name]
            elif top and ins.opname.startswith("LOAD_FAST") and name in defaults:
                chain, root = [name], defaults[name]
        if chain:
            yield tuple(chain), root


def _codes(code: types.CodeType, top: bool = True) -> Iterator[tuple[types.CodeType, bool]]:
    """``code`` and the code of the lambdas, comprehensions and functions nested in it."""
    yield code, top
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const, False)


def _trainable(tensor: Tensor, path: tuple[str, ...], fn: Any) -> Tensor:
    if not tensor.is_leaf:
        raise ValueError(
            f"net({callable_name(fn)}) uses {'.'.join(path)}, a tensor that requires grad but "
            f"is computed from other tensors, so no optimizer can train it. Fix: create it as a "
            f"leaf, e.g. `{path[-1]} = nn.Parameter(torch.randn(...) * 0.1)` or "
            f"`(torch.randn(...) * 0.1).requires_grad_()`."
        )
    return tensor


def _holder(model: nn.Module, path: tuple[str, ...]) -> nn.Module:
    """The sub-module at ``path`` inside ``model`` (created empty where missing)."""
    for name in path:
        if name not in model._modules:
            name = _free_name(model, name)
            model.add_module(name, nn.Module())
        model = model._modules[name]
    return model


def _free_name(model: nn.Module, name: str) -> str:
    """``name``, or ``name_`` when ``model`` already has an attribute called ``name``."""
    while hasattr(model, name) and name not in model._modules:
        name += "_"
    return name
