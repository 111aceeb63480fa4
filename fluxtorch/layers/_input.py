"""``Input``: declares the shape of one data point, so a ``Chain`` infers every size at once."""

from __future__ import annotations

import numbers

from torch import Tensor

from fluxtorch._template import net


@net
class Input:
    """The shape of one data point (batch dimension excluded); checks it and passes data on.

    >>> Chain(Input(3), Affine(2))[1]
    Affine(3 => 2)
    """

    shape: tuple

    def __init__(self, *shape: int) -> None:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in shape):
            raise TypeError(
                f"Input expected int sizes of one data point, e.g. Input(784) or Input(1, 28, 28); "
                f"got Input{shape!r}. Fix: give whole numbers, e.g. Input(int(n))."
            )
        if not shape or not all(n > 0 for n in shape):
            raise ValueError(
                f"Input expected the positive sizes of one data point, e.g. Input(784) or "
                f"Input(1, 28, 28); got Input{shape!r}. Fix: give each size of one data point, "
                f"leaving out the batch dimension."
            )
        super().__init__(tuple(int(n) for n in shape))

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-len(self.shape) :]) != self.shape:
            raise ValueError(
                f"{self!r} expected data points of shape {self.shape}, got a tensor of shape "
                f"{tuple(x.shape)}. Fix: give data of shape (batch, {', '.join(map(str, self.shape))})."
            )
        return x

    def extra_repr(self) -> str:
        return ", ".join(map(str, self.shape))
