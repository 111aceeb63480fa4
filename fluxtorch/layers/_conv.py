"""Convolution shims whose input channels are inferred: ``Conv2D``, ``MaxPool``, ``AvgPool``, ``Reshape``.

Data is batch-first with channels as torch expects: ``(batch, channels, height, width)``.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from fluxtorch._template import Param, net
from fluxtorch.layers._checks import kind_mismatch
from fluxtorch.layers._init import glorot_uniform, weights


@net
class Conv2D:
    """2-D convolution: ``W`` of shape ``(out, in, kh, kw)``, bias ``b`` of shape ``(out,)``.

    ``Conv2D(out, kernel)`` infers ``in`` from its input; ``Conv2D(in, out, kernel)`` does not.

    >>> Conv2D(1, 8, 3)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 8, 26, 26])
    """

    W: Param
    b: Param
    stride: int = 1
    padding: int = 0

    def __post_init__(self) -> None:
        if self.W.dim() != 4 or tuple(self.b.shape) != tuple(self.W.shape[:1]):
            raise ValueError(
                f"Conv2D expected W of shape (out, in, kh, kw) and b of shape (out,), got W of "
                f"shape {tuple(self.W.shape)} and b of shape {tuple(self.b.shape)}. Fix: pass "
                f"matching tensors, or integer sizes, e.g. Conv2D(1, 8, 3)."
            )

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() not in (3, 4) or x.shape[-3] != self.W.shape[1]:
            raise ValueError(
                f"{self!r} expected input of shape (batch, {self.W.shape[1]}, height, width), got "
                f"{tuple(x.shape)}. Fix: give images with {self.W.shape[1]} channels first, e.g. "
                f"Reshape({self.W.shape[1]}, 28, 28) before it."
            )
        try:
            return F.conv2d(x, self.W, self.b, self.stride, self.padding)
        except RuntimeError:
            mismatch = kind_mismatch(repr(self), x, self.W)
            if mismatch is not None:
                raise mismatch from None
            raise

    def extra_repr(self) -> str:
        out, in_, kh, kw = self.W.shape
        extra = (f", stride={self.stride}" if self.stride != 1 else "") + (
            f", padding={self.padding}" if self.padding else ""
        )
        return f"{in_} => {out}, ({kh}, {kw}){extra}"


def _kernel(kernel: int | tuple[int, int]) -> tuple[int, int]:
    return (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)


@Conv2D.constructor
def _sizes(
    in_: int, out: int, kernel: int | tuple[int, int], *, stride: int = 1, padding: int = 0,
    init: Callable[..., Tensor] = glorot_uniform,
) -> Conv2D:
    if in_ < 0 or out < 0 or min(_kernel(kernel)) < 1:
        raise ValueError(
            f"Conv2D sizes must be non-negative and the kernel positive, got in={in_}, out={out}, "
            f"kernel={kernel}. Fix: e.g. Conv2D(1, 8, 3)."
        )
    return Conv2D(weights(init, out, in_, *_kernel(kernel), who="Conv2D"), torch.zeros(out), stride, padding)


@Conv2D.constructor
def _inferred(
    out: int, kernel: int | tuple[int, int], *, stride: int = 1, padding: int = 0,
    init: Callable[..., Tensor] = glorot_uniform,
) -> Conv2D:
    kh, kw = _kernel(kernel)
    build = partial(_from_shape, out=out, kernel=kernel, stride=stride, padding=padding, init=init)
    return Conv2D.infer(build, f"? => {out}, ({kh}, {kw})")


def _from_shape(shape: tuple[int, ...], **sizes: Any) -> Conv2D:
    if len(shape) not in (3, 4):
        raise ValueError(
            f"Conv2D(? => {sizes['out']}) takes its input channels from inputs of shape "
            f"(batch, channels, height, width), got shape {shape}. Fix: reshape the data first, "
            f"e.g. Reshape(1, 28, 28) before it for flat MNIST images."
        )
    return Conv2D(shape[-3], sizes.pop("out"), sizes.pop("kernel"), **sizes)


def _check_images(layer: Any, x: Tensor) -> None:
    if x.dim() not in (3, 4):
        raise ValueError(
            f"{layer!r} expected images of shape (batch, channels, height, width), got shape "
            f"{tuple(x.shape)}. Fix: reshape the data first, e.g. Reshape(1, 28, 28) for flat MNIST images."
        )


def _pool_repr(pool: Any) -> str:
    """A pooling layer's repr arguments: ``2`` or ``3, stride=1``."""
    return f"{pool.kernel}" + (f", stride={pool.stride}" if pool.stride else "")


@net
class MaxPool:
    """Max pooling over ``kernel × kernel`` windows (stride defaults to the kernel).

    >>> MaxPool(2)(torch.zeros(1, 3, 8, 8)).shape
    torch.Size([1, 3, 4, 4])
    """

    kernel: int = 2
    stride: int | None = None

    def forward(self, x: Tensor) -> Tensor:
        _check_images(self, x)
        return F.max_pool2d(x, self.kernel, self.stride)

    def extra_repr(self) -> str:
        return _pool_repr(self)


@net
class AvgPool:
    """Average pooling over ``kernel × kernel`` windows (stride defaults to the kernel).

    >>> AvgPool(2)(torch.ones(1, 3, 8, 8)).shape
    torch.Size([1, 3, 4, 4])
    """

    kernel: int = 2
    stride: int | None = None

    def forward(self, x: Tensor) -> Tensor:
        _check_images(self, x)
        return F.avg_pool2d(x, self.kernel, self.stride)

    def extra_repr(self) -> str:
        return _pool_repr(self)


@net
class Reshape:
    """Reshape each data point, keeping the batch dimension (``-1`` fills in one size).

    >>> Reshape(1, 28, 28)(torch.zeros(5, 784)).shape
    torch.Size([5, 1, 28, 28])
    """

    shape: tuple

    def __init__(self, *shape: int) -> None:
        super().__init__(tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], tuple) else shape)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 0:
            raise ValueError(f"{self!r} expected a batch of data points, got a 0-d tensor. Fix: give data of shape (batch, ...).")
        try:
            return x.reshape(x.shape[0], *self.shape)
        except RuntimeError:
            if x.dim() == 1:
                raise ValueError(
                    f"{self!r} expected a batch of data points, (batch, ...), got shape {tuple(x.shape)}: "
                    f"its first dimension is taken as the batch. Fix: give a batch, e.g. x.unsqueeze(0) "
                    f"for a single data point."
                ) from None
            raise ValueError(
                f"{self!r} cannot reshape data points of shape {tuple(x.shape[1:])} (batch "
                f"{x.shape[0]}) to {self.shape}: the sizes differ. Fix: choose a shape with "
                f"{x[0].numel()} values per data point."
            ) from None

    def extra_repr(self) -> str:
        return ", ".join(map(str, self.shape))
