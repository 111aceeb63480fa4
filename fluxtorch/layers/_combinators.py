"""Combinators: ``SkipConnection`` and ``Parallel``, two templates that hold other models.

Both are written with ``@net`` like any user layer: their sub-models are ``Model``
fields, so they are registered, moved, saved and printed without further code.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from fluxtorch._naming import callable_name
from fluxtorch._template import Model, net
from fluxtorch.debug._notes import annotate
from fluxtorch.layers._chain import Chain


def concat(*xs: Tensor) -> Tensor:
    """Join tensors along the last (feature) dimension: Flux's ``vcat`` for batch-first data.

    ``(B, n1), (B, n2), ... -> (B, n1 + n2 + ...)``; the ``combine`` of choice for ``Parallel``.

    >>> concat(torch.ones(2, 1), torch.zeros(2, 2))
    tensor([[1., 0., 0.],
            [1., 0., 0.]])
    """
    return torch.cat(xs, dim=-1)


_JOINS = (torch.cat, torch.concat, torch.concatenate)  # take a sequence of tensors, not one per argument


def _combined(combine: Callable[..., Any], *ys: Any) -> Any:
    """``combine(*ys)``; torch's ``cat`` joins ``ys`` along the last (feature) dimension, like ``concat``."""
    return combine(ys, dim=-1) if combine in _JOINS else combine(*ys)


@net
class SkipConnection:
    """``combine(layer(x), x)``: the layer's output joined with its own input.

    With ``combine=torch.add`` (or ``operator.add``) it is a residual block, ``x + layer(x)``;
    with ``concat`` (or ``torch.cat``) the input's features are passed on beside the layer's.

    >>> block = SkipConnection(Affine(torch.eye(2), torch.ones(2)), torch.add)
    >>> block
    SkipConnection(Affine(2 => 2), add)
    >>> block(torch.tensor([1.0, 2.0]))
    tensor([3., 5.], grad_fn=<AddBackward0>)
    """

    layer: Model
    combine: Model

    def forward(self, x: Tensor) -> Any:
        return _combined(self.combine, self.layer(x), x)


@net
class Parallel:
    """``combine(*(layer(x) for layer in layers))``: every layer sees the same input.

    ``Parallel(concat, Affine(4, 2), Affine(4, 3))`` maps ``(B, 4)`` to ``(B, 5)`` (``torch.cat``
    as ``combine`` does the same: it is given the outputs as one sequence).  Given
    as many inputs as layers, ``Parallel(f, a, b)(x, y)`` is ``f(a(x), b(y))``.  The
    layers are held in a ``Chain`` used only as their container (``p.layers[0]``;
    state_dict keys ``layers.0.W``); they are not composed.

    >>> p = Parallel(concat, Affine(4, 2), Affine(4, 3))
    >>> p
    Parallel(concat, Affine(4 => 2), Affine(4 => 3))
    >>> p(torch.ones(6, 4)).shape
    torch.Size([6, 5])
    >>> list(p.state_dict())
    ['layers.0.W', 'layers.0.b', 'layers.1.W', 'layers.1.b']
    """

    combine: Model
    layers: Model

    def __init__(self, combine: Callable[..., Any], *layers: Callable[..., Any]) -> None:
        if not layers:
            raise ValueError(
                "Parallel needs at least one layer to run on its input; got only the combine "
                f"function {callable_name(combine)}. Fix: Parallel(concat, Affine(2), Affine(3))."
            )
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(
                    f"Parallel layer {i} must be callable (a layer, an nn.Module or a function); "
                    f"got {type(layer).__name__}. Fix: pass layers such as Affine(4, 2) after "
                    f"the combine function."
                )
        super().__init__(combine, Chain(*layers))

    def forward(self, x: Tensor, *xs: Tensor) -> Any:
        inputs = (x, *xs) if xs else (x,) * len(self.layers)
        if len(inputs) != len(self.layers):
            raise ValueError(
                f"{self!r} has {len(self.layers)} layers but was given {len(inputs)} inputs. "
                f"Fix: give one input (shared by every layer) or one input per layer."
            )
        ys = []
        for i, (layer, xi) in enumerate(zip(self.layers, inputs)):
            try:
                ys.append(layer(xi))
            except Exception as err:
                annotate(err, self, step=f"layers[{i}]", child=layer, x=xi)
                raise
        return _combined(self.combine, *ys)

    def extra_repr(self) -> str:
        return ", ".join(callable_name(f) for f in (self.combine, *self.layers))
