"""``shapes(model, shape)``: the model's computation as annotated lines, computed without data.

Like Flux's ``@shapes``: each layer call and each op of the user's own code, with the
source line it came from and the shapes that went in and came out.  It runs on fake
tensors (no data, no FLOPs, no activation memory), and on a model whose shapes do not
fit it lists everything up to the failing call and says why, instead of raising.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from fluxtorch.debug._trace import Call, Trace, as_shape, short_repr, site_text, source_line, trace


class ShapeReport(str):
    """The listing ``shapes`` prints: a ``str``, with what was found attached.

    ``output`` is the output shape (None when the shapes do not fit), ``error`` the
    exception that stopped the run, ``fits`` whether it ran to the end, ``trace`` the
    recorded calls.
    """

    trace: Trace
    output: Any
    error: BaseException | None

    def __new__(cls, found: Trace) -> ShapeReport:
        self = super().__new__(cls, "\n".join(_render(found)))
        self.trace, self.output, self.error = found, found.output, found.error
        return self

    @property
    def fits(self) -> bool:
        """Whether the model ran to the end on the given shape."""
        return self.error is None

    @property
    def lines(self) -> list[str]:
        """The listing, line by line."""
        return self.splitlines()

    def __repr__(self) -> str:
        outcome = f"output {self.output}" if self.fits else f"fails: {type(self.error).__name__}"
        return f"<shapes of {_first_line(self.trace.model)} on {self.trace.shape}: {outcome}>"


def shapes(
    model: Callable[..., Any], shape: tuple[int, ...], *, dtype: torch.dtype | None = None, show: bool = True
) -> ShapeReport:
    """Print (unless ``show=False``) and return the shapes flowing through ``model``.

    ``shape`` is the input's shape, batch first.  Nothing is computed on real data
    (layers whose sizes are inferred get their parameters, as on a first call).

    >>> report = shapes(Chain(Affine(10, 20), relu, Affine(20, 15)), (5, 10))
    shapes of Chain(Affine(10 => 20), relu, Affine(20 => 15)) on input (5, 10):
      Chain                    (5, 10) → (5, 15)
        [0] Affine(10 => 20)   (5, 10) → (5, 20)
        [1] relu               (5, 20) → (5, 20)
        [2] Affine(20 => 15)   (5, 20) → (5, 15)
    output: (5, 15)
    >>> report.output, "[1] relu" in report
    ((5, 15), True)
    """
    report = ShapeReport(trace(model, as_shape(shape, "shapes"), dtype=dtype))
    if show:
        print(report)
    return report


def _render(found: Trace) -> list[str]:
    rows: list[tuple[str, str | None]] = []  # (code column, shapes column); no shapes: a comment
    top = found.root.children
    if len(top) == 1 and top[0].layer is found.model:  # a module: one row for it, its calls inside
        rows.append(("  " + type(found.model).__name__, _arrow(top[0])))
        _children(top[0], rows, 2)
    else:  # a plain function: its calls
        _children(found.root, rows, 1)
    width = min(max((len(left) for left, right in rows if right is not None), default=0), 70)
    lines = [f"shapes of {_first_line(found.model)} on input {found.shape}:"]
    lines += [left if right is None else f"{left:<{width}}   {right}" for left, right in rows]
    if found.error is None:
        lines.append(f"output: {_shape_text(found.output)}")
    else:
        lines.append("✗ the shapes stop fitting here:")
        lines.append(f"  {type(found.error).__name__}: {found.error}")
        lines += [f"  {line}" for note in getattr(found.error, "__notes__", []) for line in note.splitlines()]
    return lines


def _children(call: Call, rows: list, depth: int) -> None:
    """A row per call made inside ``call``, under a comment naming each new source line."""
    last_site = None
    for child in call.children:
        if child.site is not None and child.site != last_site:
            source = source_line(child.site)
            rows.append(("  " * depth + f"# {site_text(child.site)}" + (f"   {source}" if source else ""), None))
            last_site = child.site
        rows.append(("  " * depth + child.label, _arrow(child)))
        _children(child, rows, depth + 1)


def _arrow(call: Call) -> str:
    if call.label in ("@", "+", "-", "*", "/") and len(call.inputs) == 2:
        given = f" {call.label} ".join(_shape_text(s) for s in call.inputs)
    else:
        given = ", ".join(_shape_text(s) for s in call.inputs)
    if call.failed:
        return f"{given} → ✗ {type(call.error).__name__}"
    return f"{given} → {_shape_text(call.output)}"


def _shape_text(shape: Any) -> str:
    if shape is None:
        return "?"
    if shape and all(isinstance(s, tuple) or s is None for s in shape):
        return "(" + ", ".join(_shape_text(s) for s in shape) + ")"
    return str(tuple(shape))


def _first_line(model: Any) -> str:
    return short_repr(model, 100)
