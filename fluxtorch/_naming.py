"""How models and functions are named when printed: like the code that built them."""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

_SHOWN = {torch.sigmoid: "σ", torch.relu: "relu", torch.tanh: "tanh"}


def callable_name(f: Any) -> str:
    """The name a model or function is shown by in a repr.

    >>> callable_name(torch.sigmoid), callable_name(torch.exp)
    ('σ', 'exp')
    """
    try:
        shown = _SHOWN.get(f)
    except TypeError:
        shown = None
    if shown is not None:
        return shown
    if isinstance(f, nn.Module):  # containers' reprs end in a "# N parameters" comment: not inside
        return f._inner_repr() if hasattr(f, "_inner_repr") else repr(f)
    name = getattr(f, "__name__", None)
    return name if isinstance(name, str) else repr(f)


def param_count(model: Any) -> int:
    """Number of parameter values a model holds, shared ones once (0 for a plain function or a pending layer).

    >>> param_count(torch.nn.Linear(3, 2))
    8
    """
    if not isinstance(model, nn.Module):
        return 0
    return sum(p.numel() for p in unique_parameters(model))


def with_count(text: str, model: Any) -> str:
    """``text`` followed by a ``# N parameters`` comment, as a container's repr ends (none for 0).

    >>> with_count("Linear", torch.nn.Linear(3, 2)), with_count("relu", torch.relu)
    ('Linear  # 8 parameters', 'relu')
    """
    count = param_count(model)
    return f"{text}  # {count:_} parameter{'s' if count != 1 else ''}" if count else text


def unique_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every parameter of ``model`` once, read directly so a pending layer's absence is no error.

    >>> shared = torch.nn.Linear(2, 2)
    >>> len(unique_parameters(torch.nn.Sequential(shared, shared)))
    2
    """
    return list({id(p): p for m in model.modules() for p in m._parameters.values() if p is not None}.values())


def one_line(text: str) -> str:
    """A repr folded onto one line, ``  # ...`` comments dropped (``nn.Sequential``'s spans lines).

    >>> one_line("Sequential(\\n  (0): ReLU()\\n)")
    'Sequential((0): ReLU())'
    """
    folded = " ".join(line.split("  # ", 1)[0].strip() for line in text.split("\n"))
    return re.sub(r",? \)", ")", re.sub(r"\( ", "(", folded))
