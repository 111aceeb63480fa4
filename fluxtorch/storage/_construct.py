"""Describing a plain ``nn.Module`` (``nn.Linear``, ``nn.LSTM``, a registered class) by its constructor.

Most ``torch.nn`` layers keep each constructor argument as an attribute of the same
name (``nn.Linear(3, 2).in_features == 3``).  Such a layer is stored as its class name,
those arguments and its ``state_dict``; saving rebuilds it on the meta device first and
refuses it when the rebuilt layer differs, so what loads is what was saved.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import Tensor, nn

_SKIPPED = ("self", "device", "dtype")


def constructor_args(module: nn.Module) -> dict[str, Any] | None:
    """The arguments that rebuild ``module``, read from its attributes; ``None`` if unreadable."""
    cls = type(module)
    init = nn.RNNBase.__init__ if issubclass(cls, nn.RNNBase) else cls.__init__
    args: dict[str, Any] = {}
    for name, parameter in inspect.signature(init).parameters.items():
        if name in _SKIPPED or (name == "mode" and init is nn.RNNBase.__init__):
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue  # unused by most layers (nn.Identity); the rebuild check catches the others
        if not hasattr(module, name):
            if parameter.default is parameter.empty:
                return None
            continue
        value = getattr(module, name)
        if inspect.ismethod(value):
            return None
        if name == "bias" and (value is None or isinstance(value, Tensor)):
            value = value is not None  # nn.Linear keeps the bias tensor where it was given a flag
        args[name] = value
    if issubclass(cls, nn.RNNBase) and not issubclass(cls, nn.LSTM):
        args.pop("proj_size", None)  # only LSTM takes it
    if issubclass(cls, nn.RNN):
        args["nonlinearity"] = module.nonlinearity
    return args


def construct_on_meta(cls: type, args: dict[str, Any]) -> nn.Module:
    """``cls(**args)`` with data-free parameters, to be filled by ``load_state_dict(assign=True)``."""
    with torch.device("meta"):
        return cls(**args)


def rebuild_differs(module: nn.Module, args: dict[str, Any]) -> str | None:
    """Why rebuilding ``module`` from ``args`` would not give it back, or ``None`` when it would."""
    try:
        rebuilt = construct_on_meta(type(module), args)
    except Exception as err:  # noqa: BLE001 - any failure means the arguments do not rebuild it
        return f"its class refused the arguments read from it ({type(err).__name__}: {err})"
    if repr(rebuilt) != repr(module):
        return f"rebuilding it from {args} gives {rebuilt!r}"
    ours = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
    if ours != theirs:
        return f"rebuilding it gives tensors {theirs}, not {ours}"
    return None
