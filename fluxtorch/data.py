"""Data helpers from the seed: one-hot coding and cutting data into batches and sequences.

``onehot``/``onecold`` turn labels into vectors and back; ``chunk``, ``partition``,
``sequences`` and ``batches`` cut a long stream (a text, a tensor, a list) into the
pieces a sequence model trains on, as the seed's char-RNN example does:

>>> text, alphabet = "abcabcabcabc", "abc"
>>> parts = chunk(text, 2)                        # 2 streams side by side: the batch
>>> parts
['abcabc', 'abcabc']
>>> seqs = [sequences(onehotbatch(p, alphabet), 3) for p in parts]  # length-3 pieces
>>> [b.shape for b in batches(*seqs)]             # (batch, time, features)
[torch.Size([2, 3, 3]), torch.Size([2, 3, 3])]
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from fluxtorch._convert import to_tensor


def _index(label: Any, labels: Sequence[Any], who: str = "onehot") -> int:
    """Position of ``label`` in ``labels``, or a ValueError naming both (and ``who`` asked)."""
    if isinstance(label, Tensor) and label.dim() == 0:
        label = label.item()  # a tensor element hashes by identity: look up its value
    try:
        return list(labels).index(label) if not isinstance(labels, dict) else labels[label]
    except (ValueError, KeyError):
        shown = list(labels)[:10]
        raise ValueError(
            f"{who}: label {label!r} is not among the {len(labels)} labels {shown}"
            f"{' ...' if len(labels) > 10 else ''}. Fix: add it to labels, e.g. "
            f"labels = sorted(set(data))."
        ) from None


def onehot(*args: Any) -> Tensor:
    """A one-hot vector: 1 where ``label`` sits in ``labels``, 0 elsewhere.

    ``onehot(label, labels)`` gives the default float dtype; ``onehot(dtype, label,
    labels)`` puts the dtype first, as the seed's ``onehot(Float32, c, alphabet)``.

    >>> onehot("b", "abc")
    tensor([0., 1., 0.])
    >>> onehot(torch.int64, 2, range(4))
    tensor([0, 0, 1, 0])
    """
    if len(args) == 3 and isinstance(args[0], torch.dtype):
        dtype, label, labels = args
    elif len(args) == 2:
        dtype, (label, labels) = torch.get_default_dtype(), args
    else:
        raise TypeError(
            f"onehot takes (label, labels) or (dtype, label, labels); got {len(args)} arguments "
            f"{tuple(type(a).__name__ for a in args)}. Fix: onehot('b', 'abc') or "
            f"onehot(torch.float32, 'b', 'abc')."
        )
    out = torch.zeros(len(labels), dtype=dtype)
    out[_index(label, labels)] = 1
    return out


def onehotbatch(xs: Iterable[Any], labels: Sequence[Any], *, dtype: torch.dtype | None = None) -> Tensor:
    """One-hot rows for many labels at once: shape ``(len(xs), len(labels))``, vectorised.

    ``xs`` may be a tensor of labels (``onehotbatch(torch.tensor([2, 0]), range(3))``).

    >>> onehotbatch("abca", "abc")
    tensor([[1., 0., 0.],
            [0., 1., 0.],
            [0., 0., 1.],
            [1., 0., 0.]])
    """
    position = {label: i for i, label in enumerate(labels)}
    indices = torch.tensor([_index(x, position, "onehotbatch") for x in xs], dtype=torch.long)
    return torch.nn.functional.one_hot(indices, len(position)).to(dtype or torch.get_default_dtype())


def onecold(y: Any, labels: Sequence[Any] | None = None) -> Any:
    """The label at the largest entry of ``y`` (the inverse of ``onehot``); row-wise on a batch.

    A 1-D ``y`` gives one label; a ``(batch, n)`` ``y`` gives a list of labels.  Without
    ``labels`` the positions themselves (ints) are the labels.

    >>> onecold(torch.tensor([0.1, 0.7, 0.2]), "abc")
    'b'
    >>> onecold(torch.tensor([[0.9, 0.1], [0.2, 0.8]]), ["cat", "dog"])
    ['cat', 'dog']
    >>> onecold(torch.tensor([[0.9, 0.1], [0.2, 0.8]]))
    [0, 1]
    """
    y = to_tensor(y, who="onecold")
    if y.dim() == 0 or y.shape[-1] == 0:
        raise ValueError(
            f"onecold expected scores with a last dimension of labels, got shape {tuple(y.shape)}. "
            f"Fix: pass a vector such as model(x) for one data point or a (batch, n) tensor."
        )
    if labels is not None and len(labels) != y.shape[-1]:
        raise ValueError(
            f"onecold got scores for {y.shape[-1]} labels but {len(labels)} labels. "
            f"Fix: pass the same labels the one-hot vectors were built with."
        )
    positions = y.argmax(-1)
    pick = (lambda i: i) if labels is None else (lambda i: labels[i])
    if positions.dim() == 0:
        return pick(int(positions))
    return _nested(positions.tolist(), pick)


def _nested(values: Any, pick: Any) -> Any:
    return [_nested(v, pick) for v in values] if isinstance(values, list) else pick(values)


def _sliceable(xs: Any) -> Any:
    """``xs`` if it supports ``len`` and slicing, else its items as a list (e.g. a generator)."""
    return xs if hasattr(xs, "__len__") and hasattr(xs, "__getitem__") else list(xs)


def _positive(n: Any, who: str, meaning: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"{who} expected a positive int {meaning}, got {n!r}. Fix: e.g. {who}(xs, 4).")
    return n


def chunk(xs: Any, n: int) -> list[Any]:
    """Split ``xs`` into ``n`` consecutive parts of nearly equal size (they differ by at most 1).

    Works on anything sliceable (str, list, tensor, array) and on iterators.

    >>> chunk(list(range(10)), 3)
    [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    >>> chunk("abcdef", 2)
    ['abc', 'def']
    """
    _positive(n, "chunk", "number of parts")
    xs = _sliceable(xs)
    if len(xs) < n:
        raise ValueError(
            f"chunk cannot split {len(xs)} items into {n} non-empty parts. "
            f"Fix: use at most {len(xs)} parts, or more data."
        )
    size, extra = divmod(len(xs), n)
    starts = [i * size + min(i, extra) for i in range(n + 1)]
    return [xs[a:b] for a, b in zip(starts, starts[1:])]


def partition(xs: Any, n: int) -> list[Any]:
    """Consecutive pieces of size ``n``; the last one holds what is left.

    >>> partition(list(range(7)), 3)
    [[0, 1, 2], [3, 4, 5], [6]]
    """
    _positive(n, "partition", "piece size")
    xs = _sliceable(xs)
    return [xs[i : i + n] for i in range(0, len(xs), n)]


def sequences(xs: Any, n: int) -> list[Any]:
    """Consecutive length-``n`` sequences of ``xs``, dropping an incomplete tail.

    A list of tensors gives stacked ``(n, ...)`` tensors; a tensor gives its slices
    along the first dimension; a string gives substrings.

    >>> sequences("abcdefg", 3)
    ['abc', 'def']
    >>> sequences(torch.arange(7), 3)
    [tensor([0, 1, 2]), tensor([3, 4, 5])]
    >>> sequences(list(torch.eye(4)), 2)[0]                   # 2 time steps of 4 features
    tensor([[1., 0., 0., 0.],
            [0., 1., 0., 0.]])
    """
    _positive(n, "sequences", "sequence length")
    xs = _sliceable(xs)
    pieces = [xs[i : i + n] for i in range(0, len(xs) - n + 1, n)]
    if isinstance(xs, list) and xs and isinstance(xs[0], Tensor):
        return [torch.stack(piece) for piece in pieces]
    return pieces


def batches(*streams: Any) -> list[Any]:
    """Batch ``i`` stacks the ``i``-th item of every stream: ``len(streams)`` is the batch size.

    As the seed's ``batches(xs...)`` (a ``zip`` of the streams), it stops at the
    shortest stream.  Consecutive batches continue each stream, which is what a
    stateful unrolled model needs.  Tensor items are stacked into one tensor of shape
    ``(batch, ...)``; other items give lists.

    >>> batches(torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6]))
    [tensor([1, 4]), tensor([2, 5]), tensor([3, 6])]
    >>> batches("abc", "xyz")
    [['a', 'x'], ['b', 'y'], ['c', 'z']]
    """
    if not streams:
        raise TypeError("batches needs at least one stream. Fix: batches(xs, ys, ...).")
    out = []
    for items in zip(*streams):
        out.append(torch.stack(items) if all(isinstance(x, Tensor) for x in items) else list(items))
    return out


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> Tensor:
    """Read an IDX file (the MNIST format), gzipped or not, as a tensor of its stored shape.

    >>> import tempfile
    >>> raw = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (Path(d) / "x.idx").write_bytes(raw)
    ...     read_idx(Path(d) / "x.idx")
    tensor([[0, 1, 2],
            [3, 4, 5]], dtype=torch.uint8)
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise
    except (OSError, EOFError) as err:
        raise ValueError(f"read_idx could not read {path}: {err}. Fix: check the file is a complete IDX file.") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(
            f"read_idx: {path} is not an IDX file: it must start with two zero bytes and a type code "
            f"in {sorted(_IDX_TYPES)}, it starts with {list(raw[:4])}. Fix: pass e.g. "
            f"t10k-images-idx3-ubyte(.gz)."
        )
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    count = int(np.prod(shape)) if shape else 1
    if len(raw) != 4 + 4 * ndim + count * dtype.itemsize:
        raise ValueError(
            f"read_idx: {path} holds {len(raw)} bytes but its header promises shape {shape} of {dtype}. "
            f"Fix: the file is truncated or corrupted; download it again."
        )
    data = np.frombuffer(raw, dtype, count, offset=4 + 4 * ndim).reshape(shape)
    return torch.from_numpy(data.astype(dtype.newbyteorder("=")))


__all__ = ["batches", "chunk", "onecold", "onehot", "onehotbatch", "partition", "read_idx", "sequences"]
