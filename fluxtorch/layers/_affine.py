"""``Affine``: ``y = x W + b``, the basic layer of the seed, written as a template."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from fluxtorch._template import Param, net
from fluxtorch.layers._checks import kind_mismatch
from fluxtorch.layers._init import glorot_uniform, weights


@net
class Affine:
    """``x @ W + b`` with ``W`` of shape ``(in, out)`` and ``b`` of shape ``(out,)``.

    Input ``(batch, in)`` or a single point ``(in,)``; output ``(batch, out)`` / ``(out,)``.
    Build it from sizes, ``Affine(in, out, init=glorot_uniform)``, from the output size
    alone (``Affine(out)``: the input size is inferred), or from tensors ``Affine(W, b)``.

    >>> layer = Affine(torch.ones(3, 2), torch.zeros(2))
    >>> layer(torch.tensor([1.0, 2.0, 3.0]))
    tensor([6., 6.], grad_fn=<AddBackward0>)
    """

    W: Param
    b: Param

    def __post_init__(self) -> None:
        if self.W.dim() == 0 and self.b.dim() == 0:  # Affine(2.5, 3): sizes that are not ints
            raise ValueError(
                f"Affine sizes must be whole numbers, got Affine({self.W.item()!r}, {self.b.item()!r}). "
                f"Fix: give integer sizes, Affine(10, 20) (int(n) of a float n), or tensors, Affine(W, b)."
            )
        if self.W.dim() != 2 or tuple(self.b.shape) != tuple(self.W.shape[1:]):
            raise ValueError(
                f"Affine expected W of shape (in, out) and b of shape (out,), got W of shape "
                f"{tuple(self.W.shape)} and b of shape {tuple(self.b.shape)}. Fix: pass matching "
                f"tensors, e.g. Affine(torch.randn(10, 20), torch.zeros(20)), or integer sizes, Affine(10, 20)."
            )

    def forward(self, x: Tensor) -> Tensor:
        W, b = self.W, self.b
        if x.shape[-1:] != W.shape[:1]:
            raise ValueError(
                f"{self!r} expected input with {W.shape[0]} features in its last dimension, "
                f"got shape {tuple(x.shape)}. Fix: give data of shape (batch, {W.shape[0]}), "
                f"or build the layer as Affine({x.shape[-1] if x.dim() else '?'}, {W.shape[1]})."
            )
        try:
            return torch.addmm(b, x, W) if x.dim() == 2 else x @ W + b  # (B, in) @ (in, out)
        except RuntimeError:
            mismatch = kind_mismatch(repr(self), x, W)
            if mismatch is not None:
                raise mismatch from None
            raise

    def extra_repr(self) -> str:
        return f"{self.W.shape[0]} => {self.W.shape[1]}"


@Affine.constructor
def _sizes(in_: int, out: int, *, init: Callable[..., Tensor] = glorot_uniform) -> Affine:
    _check_sizes(in_, out)
    return Affine(weights(init, in_, out, who=f"Affine({in_}, {out})"), torch.zeros(out))


@Affine.constructor
def _inferred(out: int, *, init: Callable[..., Tensor] = glorot_uniform) -> Affine:
    _check_sizes(out)
    return Affine.infer_features(out, init=init)


def _check_sizes(*sizes: int) -> None:
    if any(n < 0 for n in sizes):
        raise ValueError(
            f"Affine sizes must be non-negative, got {', '.join(map(str, sizes))}. "
            f"Fix: give feature counts, e.g. Affine(784, 128)."
        )
