"""Errors that find their layer: PEP 678 notes naming the path to the failing layer.

Each model level that sees an exception pass (a ``Chain`` step, a template's forward)
calls ``annotate``; the error keeps its type and message and carries one note that
grows outward: ``TLP.second``, an ``Affine(21 => 15)``, called at line 6 of the
user's file, with the shape that came in.  Nothing runs on the success path.
"""

from __future__ import annotations

import linecache
import os
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from torch import Tensor, nn

_NOTE_HEAD = "fluxtorch: the error happened in "
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class _Hop:
    model: Any
    step: str | None  # how the parent reached the next level down: "[2]" or ".second"
    line: str | None  # the source location of that call in the parent's forward


def annotate(
    err: BaseException, model: Any, *, step: int | str | None = None, child: Any = None, x: Any = None
) -> None:
    """Record that ``err`` passed through ``model``.

    A container names the ``step`` it was at and the ``child`` it called with input
    ``x``; a template passes its own input as ``x``.

    >>> err = ValueError("bad")
    >>> annotate(err, Chain(relu, Affine(2, 3)), step=1, child=Affine(2, 3), x=torch.ones(4))
    >>> print(err.__notes__[0].splitlines()[0])
    fluxtorch: the error happened in Chain[1], an Affine(2 => 3), given input of shape (4,)
    """
    hops: list[_Hop] = err.__dict__.setdefault("_fluxtorch_hops", [])
    shapes: dict = err.__dict__.setdefault("_fluxtorch_shapes", {})
    if hops and hops[0].model is model:
        return
    if not hops and child is not None:
        hops.append(_Hop(child, None, None))
    below = hops[0].model if hops else None
    if step is None and below is not None and isinstance(model, nn.Module):
        step = next((name for name, m in model._modules.items() if m is below), None)
    where = None if step is None else (f"[{step}]" if isinstance(step, int) else f".{step}")
    hops.insert(0, _Hop(model, where, _call_site(err.__traceback__, model)))
    seen = child if child is not None else model
    if isinstance(x, Tensor) and id(seen) not in shapes:
        shapes[id(seen)] = tuple(x.shape)
    _rewrite_note(err, hops, shapes)


def _call_site(tb: TracebackType | None, model: Any) -> str | None:
    """``file:line: source`` of the call to the next layer, inside ``model``'s own forward."""
    forward = getattr(type(model), "forward", None)
    code = getattr(getattr(forward, "__wrapped__", forward), "__code__", None)
    found = None
    while tb is not None:
        if tb.tb_frame.f_code is code:
            found = tb
        tb = tb.tb_next
    if found is None or found.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        return None
    filename, lineno = found.tb_frame.f_code.co_filename, found.tb_lineno
    source = linecache.getline(filename, lineno).strip()
    return f"line {lineno} of {filename}: `{source}`"


def _rewrite_note(err: BaseException, hops: list[_Hop], shapes: dict) -> None:
    notes = getattr(err, "__notes__", None)
    if notes is not None:
        err.__notes__ = [n for n in notes if not n.startswith(_NOTE_HEAD)]
    path = type(hops[0].model).__name__ if isinstance(hops[0].model, nn.Module) else "model"
    calls = []
    for hop in hops[:-1]:
        path += hop.step or ""
        if hop.line:
            calls.append(f"  {path} called at {hop.line}")
    last = hops[-1].model
    head = f"{_NOTE_HEAD}{path}, {_article(last)}{_short(last)}"
    if id(last) in shapes:
        head += f", given input of shape {shapes[id(last)]}"
    err.add_note("\n".join([head, *calls]))


def _article(model: Any) -> str:
    return "an " if _short(model)[:1] in "AEIOU" else "a "


def _short(model: Any) -> str:
    text = repr(model) if isinstance(model, nn.Module) else getattr(model, "__name__", repr(model))
    first = text.split("\n", 1)[0]
    return first if len(first) <= 80 else first[:77] + "..."
