"""Errors that find their layer: PEP 678 notes naming the path to the failing layer.

Each model level that sees an exception pass (a ``Chain`` step, a template's forward)
calls ``annotate``; the error keeps its type and message and carries one note that
grows outward as it passes through nested models: ``TLP.second``, an
``Affine(21 => 15)`` given input of shape ``(5, 20)`` that holds ``W (21, 15)``,
called at line 9 of the user's file.  Nothing runs on the success path: the calls
sit in ``except`` blocks only.
"""

from __future__ import annotations

import linecache
import os
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import torch
from torch import Tensor, nn

from fluxtorch._naming import one_line

_NOTE_HEAD = "fluxtorch: the error happened in "
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep


@dataclass
class _Hop:
    model: Any
    step: str | None  # how the parent reached the next level down: "[2]" or ".second"
    line: str | None  # the source location of that call in the parent's forward


@dataclass
class _Failure:
    """What is known about the innermost failing call, gathered at the first ``annotate``."""

    hops: list[_Hop]
    shape: Any = None  # the input shape the failing layer was given
    raised: str | None = None  # the deepest line of the user's own code in the traceback


def annotate(
    err: BaseException, model: Any, *, step: int | str | None = None, child: Any = None, x: Any = None
) -> None:
    """Record that ``err`` passed through ``model`` (called in ``except`` blocks only).

    A container names the ``step`` it was at and the ``child`` it called with input
    ``x``; a template passes its own input as ``x``.  The error gets one note, rewritten
    as it passes each level outward, never one note per level.

    >>> err = ValueError("bad")
    >>> annotate(err, Chain(relu, Affine(2, 3)), step=1, child=Affine(2, 3), x=torch.ones(4))
    >>> print(err.__notes__[0])
    fluxtorch: the error happened in Chain[1], an Affine(2 => 3), given input of shape (4,); it holds W (2, 3) and b (3,)
    """
    failure: _Failure | None = err.__dict__.get("_fluxtorch_failure")
    if failure is None:
        failure = _Failure([], raised=_raised_at(err.__traceback__))
        err.__dict__["_fluxtorch_failure"] = failure
        if child is not None:
            failure.hops.append(_Hop(child, None, None))
        failure.shape = _shape_text(x)
    hops = failure.hops
    if hops and hops[0].model is model:
        return
    if hops and child is not None and hops[0].model is not child:
        # the failing level sits inside a module that does not annotate (a plain nn.Module)
        hops.insert(0, _Hop(child, _name_of(child, hops[0].model), None))
    below = hops[0].model if hops else None
    if step is None and below is not None:
        where = _name_of(model, below)
    else:
        where = None if step is None else (f"[{step}]" if isinstance(step, int) else f".{step}")
    hops.insert(0, _Hop(model, where, _call_site(err.__traceback__, model)))
    _rewrite_note(err, failure)


def _name_of(model: Any, below: Any) -> str | None:
    """How ``model`` reaches ``below``: ``".second"``, ``".body[0]"`` (None if it cannot tell)."""
    if isinstance(model, nn.Module):
        found = next((name for name, m in model.named_modules() if m is below and name), None)
        if found is not None:
            return "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in found.split("."))
    fields = vars(model) if hasattr(model, "__dict__") else {}
    return next((f".{name}" for name, value in fields.items() if value is below), None)


def _call_site(tb: TracebackType | None, model: Any) -> str | None:
    """``line N of file: `source``` of the call to the next layer, inside ``model``'s own forward."""
    forward = getattr(type(model), "forward", None)
    code = getattr(getattr(forward, "__wrapped__", forward), "__code__", None)
    found = None
    while tb is not None:
        if tb.tb_frame.f_code is code:
            found = tb
        tb = tb.tb_next
    if found is None or found.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        return None
    return _line_text(found)


def _raised_at(tb: TracebackType | None) -> str | None:
    """The deepest frame of the user's own code (not fluxtorch, not torch) in the traceback."""
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith((_PACKAGE_DIR, _TORCH_DIR)):
            found = tb
        tb = tb.tb_next
    return _line_text(found) if found is not None else None


def _line_text(tb: TracebackType) -> str:
    filename, lineno = tb.tb_frame.f_code.co_filename, tb.tb_lineno
    source = linecache.getline(filename, lineno).strip()
    return f"line {lineno} of {filename}" + (f": `{source}`" if source else "")


def _rewrite_note(err: BaseException, failure: _Failure) -> None:
    hops = failure.hops
    notes = getattr(err, "__notes__", None)
    if notes is not None:
        err.__notes__ = [n for n in notes if not n.startswith(_NOTE_HEAD)]
    path = type(hops[0].model).__name__ if isinstance(hops[0].model, nn.Module) else "model"
    calls, lines = [], set()
    for hop in hops[:-1]:
        path += hop.step or ""
        if hop.line:
            calls.append(f"  {path} called at {hop.line}")
            lines.add(hop.line)
    last = hops[-1].model
    head = f"{_NOTE_HEAD}{path}, {_article(last)}{_short(last)}"
    if failure.shape is not None:
        head += f", given input of shape {failure.shape}"
    head += _holding(last)
    if failure.raised and failure.raised not in lines:
        calls.append(f"  raised at {failure.raised}")
    err.add_note("\n".join([head, *calls]))


def _holding(model: Any) -> str:
    """``; it holds W (21, 15) and b (15,)``: the failing layer's own parameter shapes."""
    if not isinstance(model, nn.Module):
        return ""
    shapes = [f"{name} {tuple(p.shape)}" for name, p in model._parameters.items() if isinstance(p, Tensor)]
    if not shapes or len(shapes) > 6:
        return ""
    return "; it holds " + (", ".join(shapes[:-1]) + " and " + shapes[-1] if len(shapes) > 1 else shapes[0])


def _shape_text(x: Any) -> str | None:
    if isinstance(x, Tensor):
        return str(tuple(x.shape))
    if isinstance(x, (tuple, list)) and x and all(isinstance(item, Tensor) for item in x):
        return "(" + ", ".join(str(tuple(item.shape)) for item in x) + ")"
    return None


def _article(model: Any) -> str:
    return "an " if _short(model)[:1] in "AEIOU" else "a "


def _short(model: Any) -> str:
    try:
        inner = getattr(model, "_inner_repr", None)  # a Chain's one-line form
        if callable(inner):
            text = inner()
        else:
            text = repr(model) if isinstance(model, nn.Module) else getattr(model, "__name__", repr(model))
    except Exception:  # a broken repr must never replace the user's own error
        text = f"<{type(model).__name__}>"
    first = one_line(text)
    return first if len(first) <= 80 else first[:79] + "…"
