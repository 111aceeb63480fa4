"""The names a file may use for functions and classes: fluxtorch's, torch's and the user's.

A file never names a module to import or an attribute path to follow freely: a name
resolves only through this table, so loading can never reach arbitrary code.
"""

from __future__ import annotations

import functools
import sys
import types
from typing import Any, Callable

from torch import nn

from fluxtorch._template import Template
from fluxtorch.layers import Chain

_TORCH_SPACES = ("torch", "torch.nn.functional", "torch.special", "torch.linalg", "torch.fft")
_registered: dict[str, Any] = {}


def register(obj: Callable[..., Any], name: str | None = None) -> Callable[..., Any]:
    """Let ``save``/``load`` refer to your function or ``nn.Module`` class by ``name``.

    The name defaults to ``module.qualname``; register before saving and before loading
    (in the loading program too).  ``@net`` templates need no registration: every template
    defined in the running program is found by its ``module.qualname``.  Returns ``obj``,
    so it also works as a decorator.

    >>> def swish(x):
    ...     return x * torch.sigmoid(x)
    >>> register(swish, "examples.swish") is swish
    True
    """
    if not callable(obj):
        raise TypeError(
            f"register expected a function or a class, got {type(obj).__name__} {obj!r:.60}. "
            f"Fix: register the function or class itself, e.g. register(swish, 'mylib.swish')."
        )
    if name is None:
        qualname, module = getattr(obj, "__qualname__", None), getattr(obj, "__module__", None)
        if not isinstance(qualname, str) or not module or "<lambda>" in qualname:
            raise ValueError(
                f"register cannot name {obj!r:.60}: it has no qualified name. "
                f"Fix: give one, e.g. register(f, 'mylib.f')."
            )
        name = f"{module}.{qualname}"
    if not isinstance(name, str) or not name:
        raise TypeError(f"register expected a non-empty string name, got {name!r}. Fix: e.g. register(f, 'mylib.f').")
    taken = _registered.get(name)
    if taken is not None and taken is not obj and _qualified(taken) != _qualified(obj):
        raise ValueError(
            f"register: the name {name!r} already stands for {taken!r:.60}. Fix: choose another name."
        )
    _registered[name] = obj
    return obj


def _qualified(obj: Any) -> tuple:
    return getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)


def function_name(f: Any) -> str | None:
    """The name a file stores for function ``f``, or ``None`` when it has none that resolves."""
    for name, obj in _registered.items():
        if obj is f:
            return name
    fluxtorch = sys.modules["fluxtorch"]
    for name in fluxtorch.__all__:
        if getattr(fluxtorch, name) is f and not isinstance(f, type):
            return f"fluxtorch.{name}"
    found = _torch_functions().get(id(f))
    return found[1] if found is not None and found[0] is f else None


@functools.cache
def _torch_functions() -> dict[int, tuple[Any, str]]:
    """torch's public functions by identity, each under the first name that reaches it."""
    index: dict[int, tuple[Any, str]] = {}
    for space in _TORCH_SPACES:
        module = sys.modules.get(space)
        for name in dir(module):
            obj = None if name.startswith("_") else getattr(module, name, None)
            if callable(obj) and not isinstance(obj, (type, types.ModuleType)):
                index.setdefault(id(obj), (obj, f"{space}.{name}"))
    return index


def resolve_function(name: str) -> Any:
    """The function a stored name stands for, or ``None``."""
    if name in _registered:
        return _registered[name]
    space, _, attr = name.rpartition(".")
    if space == "fluxtorch":
        fluxtorch = sys.modules["fluxtorch"]
        obj = getattr(fluxtorch, attr) if attr in fluxtorch.__all__ else None
    elif space in _TORCH_SPACES and attr and not attr.startswith("_"):
        obj = getattr(sys.modules.get(space), attr, None)
    else:
        return None
    if isinstance(obj, (type, types.ModuleType)) or not callable(obj):
        return None
    return obj


def class_name(cls: type) -> str | None:
    """The name a file stores for a layer class, or ``None`` when loading could not find it."""
    for name, obj in _registered.items():
        if obj is cls:
            return name
    if cls is Chain:
        return "fluxtorch.Chain"
    if issubclass(cls, Template) or _fluxtorch_class(f"{cls.__module__}.{cls.__qualname__}") is cls:
        return f"{cls.__module__}.{cls.__qualname__}"
    if getattr(nn, cls.__name__, None) is cls:
        return f"torch.nn.{cls.__name__}"
    return None


def resolve_class(name: str) -> type | None:
    """The layer class a stored name stands for: registered, a live template, or a torch.nn class."""
    obj = _registered.get(name)
    if isinstance(obj, type):
        return obj
    if name.startswith("torch.nn.") and name.count(".") == 2:
        cls = getattr(nn, name.rpartition(".")[2], None)
        return cls if isinstance(cls, type) and issubclass(cls, nn.Module) else None
    found = _fluxtorch_class(name)
    templates = _templates()
    for cls in templates:
        if f"{cls.__module__}.{cls.__qualname__}" == name:
            found = cls  # the most recently defined wins, as when a notebook redefines a class
    if found is None and name.startswith("__main__."):
        # saved by a script, loaded where the template is imported from a module: unique names only
        same = [cls for cls in templates if cls.__qualname__ == name.removeprefix("__main__.")]
        found = same[0] if len(same) == 1 else None
    return found


def _fluxtorch_class(name: str) -> type | None:
    """A module class fluxtorch itself defines (``unroll``'s, say), found in its loaded modules."""
    module, _, qualname = name.rpartition(".")
    if not (module == "fluxtorch" or module.startswith("fluxtorch.")) or not qualname.isidentifier():
        return None
    cls = getattr(sys.modules.get(module), qualname, None)
    return cls if isinstance(cls, type) and issubclass(cls, nn.Module) else None


def _templates() -> list[type]:
    """Every ``Template`` subclass alive in this program, oldest first."""
    found, stack = [], [Template]
    while stack:
        cls = stack.pop(0)
        for sub in cls.__subclasses__():
            if sub not in found:
                found.append(sub)
                stack.append(sub)
    return found
