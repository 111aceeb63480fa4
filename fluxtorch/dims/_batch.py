"""``Batch`` and ``Seq``: a list of data points (or time steps) stored as one stacked tensor.

``Batch([[1, 2, 3], [4, 5, 6]])`` reads like the list it was built from (``xs[0]``,
``len``, iteration, ``==`` with a list of lists) while ``rawbatch(xs)`` is the ``2×3``
tensor a model computes with.  ``Seq`` is the same for time steps, and the two nest:
a ``Batch`` of ``Seq``s of one-hot vectors has a raw tensor of ``batch × time × features``.
Stacking is always along the first (left-most) dimension.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
from torch import Tensor

from fluxtorch._convert import to_tensor


class Stacked:
    """Base of ``Batch`` and ``Seq``: data points stacked along the first dimension of ``raw``."""

    raw: Tensor
    _inner: tuple[type[Stacked], ...]  # wrappers of the elements, outermost first

    def __init__(self, items: Any) -> None:
        raw, inner = _stack(items, type(self).__name__)
        self.raw, self._inner = raw, inner

    @classmethod
    def _wrap(cls, raw: Tensor, inner: tuple[type[Stacked], ...] = ()) -> Stacked:
        """A wrapper around an already stacked ``raw`` tensor, without copying it."""
        self = cls.__new__(cls)
        self.raw, self._inner = raw, inner
        return self

    def rewrap(self, raw: Any) -> Any:
        """``raw`` (a model's output for this input) in the same nesting of ``Batch``/``Seq``.

        Each level is kept while the output keeps its size: a model that reduces the
        time steps of a ``Batch`` of ``Seq``s gives a ``Batch``; one that sums everything
        to a scalar gives the scalar.

        >>> Batch([[1, 2], [3, 4]]).rewrap(torch.zeros(2, 5))
        2-element Batch of Tensor(5,):
         [0, 0, 0, 0, 0]
         [0, 0, 0, 0, 0]
        """
        if not isinstance(raw, Tensor):
            return raw
        kinds = (type(self), *self._inner)
        levels = 0
        for k, size in enumerate(self.raw.shape[: len(kinds)]):
            if raw.dim() <= k or raw.shape[k] != size:
                break
            levels = k + 1
        return kinds[0]._wrap(raw, kinds[1:levels]) if levels else raw

    # ---- a list of data points -------------------------------------------------------
    def __len__(self) -> int:
        return self.raw.shape[0]

    def __getitem__(self, index: Any) -> Any:
        part = self.raw[index]
        if isinstance(index, tuple):  # xs[i, j]: reaching inside the data points, as into the tensor
            return part
        if isinstance(index, (int, np.integer)) or (isinstance(index, Tensor) and index.dim() == 0):
            return self._inner[0]._wrap(part, self._inner[1:]) if self._inner else part
        return type(self)._wrap(part, self._inner)

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Stacked):
            if (type(other), *other._inner) != (type(self), *self._inner):
                return False
            other = other.raw
        elif not isinstance(other, Tensor):
            try:
                other = to_tensor(other)
            except TypeError:
                return NotImplemented
        return self.raw.shape == other.shape and bool((self.raw == other.to(self.raw.device)).all())

    __hash__ = None  # type: ignore[assignment]  # mutable contents, like a list

    def tolist(self) -> list:
        """The data points as nested Python lists of numbers.

        >>> Batch([[1, 2], [3, 4]]).tolist()
        [[1.0, 2.0], [3.0, 4.0]]
        """
        return self.raw.tolist()

    # ---- tensor-like properties, so devices and dtypes move with the data ------------
    @property
    def shape(self) -> torch.Size:
        """Shape of the raw tensor: data points first.

        >>> Batch([[1, 2, 3], [4, 5, 6]]).shape
        torch.Size([2, 3])
        """
        return self.raw.shape

    @property
    def dtype(self) -> torch.dtype:
        """The raw tensor's dtype.

        >>> Batch([[1, 2]]).dtype
        torch.float32
        """
        return self.raw.dtype

    @property
    def device(self) -> torch.device:
        """The device the raw tensor lives on.

        >>> Batch([[1, 2]]).device
        device(type='cpu')
        """
        return self.raw.device

    def to(self, *args: Any, **kwargs: Any) -> Stacked:
        """The same data points moved or converted as ``Tensor.to`` would (``xs.to("cuda")``).

        >>> Batch([[1, 2]]).to(torch.float64).kind(), Batch([[1, 2]]).to(torch.float64).dtype
        ('Batch of Tensor(2,)', torch.float64)
        """
        return type(self)._wrap(self.raw.to(*args, **kwargs), self._inner)

    def cpu(self) -> Stacked:
        """The same data points in CPU memory.

        >>> Batch([[1, 2]]).cpu().device
        device(type='cpu')
        """
        return self.to("cpu")

    def cuda(self, device: Any = None) -> Stacked:
        """The same data points on a CUDA device (the current one by default)."""
        return type(self)._wrap(self.raw.cuda(device), self._inner)

    # ---- printing --------------------------------------------------------------------
    def kind(self) -> str:
        """What it holds, as in the repr: ``"Batch of Seq of Tensor(4,)"``.

        >>> Batch([Seq([[0, 1, 0, 0]])]).kind()
        'Batch of Seq of Tensor(4,)'
        """
        point = tuple(self.raw.shape[1 + len(self._inner) :])
        names = [type(self).__name__, *(k.__name__ for k in self._inner)]
        return " of ".join([*names, f"Tensor{point!r}"])

    def __repr__(self) -> str:
        shown = [f" {_text(self.raw[i])}" for i in range(min(len(self), 10))]
        if len(self) > 10:
            shown.append(" ⋮")
        return "\n".join([f"{len(self)}-element {self.kind()}:", *shown])


class Batch(Stacked):
    """A list of data points stored as one tensor whose first dimension is the batch.

    >>> xs = Batch([[1, 2, 3], [4, 5, 6]])
    >>> xs
    2-element Batch of Tensor(3,):
     [1, 2, 3]
     [4, 5, 6]
    >>> xs[0], len(xs), xs == [[1, 2, 3], [4, 5, 6]]
    (tensor([1., 2., 3.]), 2, True)
    >>> rawbatch(xs).shape
    torch.Size([2, 3])
    """


class Seq(Stacked):
    """A list of time steps stored as one tensor whose first dimension is time.

    >>> Seq([[0, 1], [1, 0], [1, 1]]).shape
    torch.Size([3, 2])
    >>> Batch([Seq([[0, 1], [1, 0]]), Seq([[1, 1], [0, 0]])]).shape   # batch × time × features
    torch.Size([2, 2, 2])
    """


def _stack(items: Any, who: str) -> tuple[Tensor, tuple[type[Stacked], ...]]:
    """The raw tensor and the element wrappers of ``items``, a list of data points."""
    if isinstance(items, Stacked):
        return items.raw, items._inner  # its elements become the data points
    if isinstance(items, Tensor):
        if items.dim() == 0:
            raise ValueError(f"{who} expected a list of data points, got a 0-d tensor. Fix: {who}([x]).")
        return items, ()
    if isinstance(items, (str, bytes)) or not isinstance(items, (list, tuple, np.ndarray)):
        raise TypeError(
            f"{who} expected a list of data points (lists, arrays, tensors, Seqs), got "
            f"{type(items).__name__}. Fix: pass e.g. {who}([[1, 2, 3], [4, 5, 6]])."
        )
    if len(items) == 0:
        raise ValueError(
            f"{who} needs at least one data point to know their shape; got an empty list. "
            f"Fix: pass e.g. {who}([[1, 2, 3]])."
        )
    if isinstance(items, np.ndarray) or not any(isinstance(x, (Tensor, Stacked)) for x in items):
        try:
            return to_tensor(items, who=who), ()
        except TypeError as err:
            raise ValueError(
                f"{who} could not stack its data points: {err} Every data point must have the same shape."
            ) from None
    points = [_point(x, who) for x in items]
    first_kinds, first_shape = points[0][1], points[0][0].shape
    for i, (raw, kinds) in enumerate(points):
        if kinds != first_kinds or raw.shape != first_shape:
            got = " of ".join([*(k.__name__ for k in kinds), f"Tensor{tuple(raw.shape)!r}"])
            want = " of ".join([*(k.__name__ for k in first_kinds), f"Tensor{tuple(first_shape)!r}"])
            raise ValueError(
                f"{who} data points must all have the same shape: data point 0 is a {want}, "
                f"data point {i} is a {got}. Fix: pad or crop them to one shape first."
            )
    return torch.stack([raw for raw, _ in points]), first_kinds


def _point(x: Any, who: str) -> tuple[Tensor, tuple[type[Stacked], ...]]:
    if isinstance(x, Stacked):
        return x.raw, (type(x), *x._inner)
    return to_tensor(x, who=who), ()


def _text(t: Tensor) -> str:
    return _format(t.tolist())


def _format(v: Any) -> str:
    if isinstance(v, list):
        items = [_format(x) for x in v[:8]] + (["…"] if len(v) > 8 else [])
        return "[" + ", ".join(items) + "]"
    if isinstance(v, float):
        return f"{v:g}"
    return repr(v)


def rawbatch(xs: Any) -> Tensor:
    """The stacked tensor behind a ``Batch`` or ``Seq`` (a tensor is returned as it is).

    >>> rawbatch(Batch([[1, 2], [3, 4]]))
    tensor([[1., 2.],
            [3., 4.]])
    """
    if isinstance(xs, Stacked):
        return xs.raw
    if isinstance(xs, Tensor):
        return xs
    raise TypeError(
        f"rawbatch expected a Batch, a Seq or a tensor, got {type(xs).__name__}. "
        f"Fix: build one with Batch(data_points) first."
    )


def batchone(x: Any) -> Batch:
    """A ``Batch`` holding the single data point ``x`` (a ``Batch`` is returned as it is).

    >>> batchone([1, 2, 3]).shape
    torch.Size([1, 3])
    """
    if isinstance(x, Batch):
        return x
    raw, inner = _point(x, "batchone")
    return Batch._wrap(raw.unsqueeze(0), inner)


def tobatch(x: Any) -> Tensor:
    """The raw batched tensor for ``x``: a ``Batch``'s tensor, else ``x`` as a batch of one.

    This is how a single data point is fed to code that expects batches.

    >>> tobatch([1, 2, 3]).shape, tobatch(Batch([[1, 2], [3, 4]])).shape
    (torch.Size([1, 3]), torch.Size([2, 2]))
    """
    return rawbatch(batchone(x))


def unbatchone(xs: Any) -> Any:
    """The single data point of a ``Batch`` of one (or of a raw tensor whose batch size is 1).

    >>> unbatchone(batchone([1, 2, 3]))
    tensor([1., 2., 3.])
    """
    if not isinstance(xs, (Batch, Tensor)):
        raise TypeError(
            f"unbatchone expected a Batch (or a batched tensor), got {type(xs).__name__}. "
            f"Fix: pass the Batch a model returned, e.g. unbatchone(model(batchone(x)))."
        )
    if isinstance(xs, Tensor) and xs.dim() == 0:
        raise ValueError(
            "unbatchone expected a batch of one data point, got a 0-d tensor. "
            "Fix: pass a tensor of shape (1, ...), e.g. from batchone(x)."
        )
    if len(xs) != 1:
        raise ValueError(
            f"unbatchone expected a batch of one data point, got {len(xs)}. "
            f"Fix: index the data point you want, xs[i], or iterate over the batch."
        )
    return xs[0]
