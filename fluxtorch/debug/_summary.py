"""``outputsize`` and ``summary``: a model's output shape and a table of its layers, without data."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from fluxtorch._naming import param_count, unique_parameters
from fluxtorch.debug._trace import Call, as_shape, trace

_OPERATORS = {"@", "+", "-", "*", "/", "**", "[]"}


def outputsize(model: Callable[..., Any], shape: tuple[int, ...], *, dtype: torch.dtype | None = None) -> Any:
    """The shape of ``model``'s output for an input of ``shape``, as a tuple, computed without data.

    A model returning several tensors gives a tuple of shapes.  A model whose shapes do
    not fit raises the error it would raise on real data (``shapes`` shows where).

    >>> outputsize(Chain(Affine(10, 20), relu, Affine(20, 15)), (1, 10))
    (1, 15)
    """
    found = trace(model, as_shape(shape, "outputsize"), dtype=dtype)
    if found.error is not None:
        raise found.error
    return found.output


def summary(
    model: Callable[..., Any], input_shape: tuple[int, ...], *, dtype: torch.dtype | None = None, show: bool = True
) -> str:
    """A table of the layers ``model`` calls, their output shapes and parameter counts.

    Printed (unless ``show=False``) and returned; computed on fake tensors.  Nested
    Chains and templates are indented under their parent; a layer's count includes the
    layers inside it, the total counts each parameter once.

    >>> text = summary(Chain(Input(4), Affine(3), relu, Affine(2)), (1, 4))
    Layer                  Output shape   Parameters
    ================================================
    Chain                  (1, 2)                 23
      [0] Input(4)         (1, 4)                  0
      [1] Affine(4 => 3)   (1, 3)                 15
      [2] relu             (1, 3)                  0
      [3] Affine(3 => 2)   (1, 2)                  8
    ================================================
    Total parameters: 23 (trainable: 23, non-trainable: 0)
    """
    found = trace(model, as_shape(input_shape, "summary"), dtype=dtype)
    if found.error is not None:
        found.error.add_note(
            f"summary: the shapes do not fit for input {found.shape}; "
            f"shapes(model, {found.shape}) lists every call up to the failing one."
        )
        raise found.error
    rows: list[tuple[str, str, str]] = []
    top = found.root.children
    if len(top) == 1 and top[0].layer is model:
        rows.append((type(model).__name__, _shape_text(top[0].output), f"{param_count(model):,}"))
        _rows(top[0].children, rows, 1)
    else:
        _rows(top, rows, 0)
    header = ("Layer", "Output shape", "Parameters")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    rule = "=" * (sum(widths) + 6)
    line = lambda r: f"{r[0]:<{widths[0]}}   {r[1]:<{widths[1]}}   {r[2]:>{widths[2]}}".rstrip()  # noqa: E731
    total, trainable = _counts(model)
    text = "\n".join(
        [line(header), rule, *(line(r) for r in rows), rule,
         f"Total parameters: {total:,} (trainable: {trainable:,}, non-trainable: {total - trainable:,})"]
    )
    if show:
        print(text)
    return text


def _rows(calls: list[Call], rows: list, depth: int) -> None:
    for call in calls:
        if call.layer is None and (call.label in _OPERATORS or call.label.startswith("__")):
            continue
        count = param_count(call.layer) if isinstance(call.layer, nn.Module) else 0
        rows.append(("  " * depth + call.label, _shape_text(call.output), f"{count:,}"))
        _rows(call.children, rows, depth + 1)


def _counts(model: Any) -> tuple[int, int]:
    if not isinstance(model, nn.Module):
        return 0, 0
    params = unique_parameters(model)
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _shape_text(shape: Any) -> str:
    return "?" if shape is None else str(shape)
