"""What ``train`` and ``accuracy`` do with each ``(x, y)`` pair: check it, move it, measure it."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def is_pair(data: Any) -> bool:
    """``(x, y)`` itself rather than a collection of pairs (whose items are tuples)."""
    return isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], tuple)


def as_pair(pair: Any, who: str) -> tuple[Any, Any]:
    """``(x, y)`` from one item of the data, or a TypeError saying what the data should yield."""
    if isinstance(pair, (tuple, list)) and len(pair) == 2:
        return pair[0], pair[1]
    raise TypeError(
        f"{who} expected data to yield (x, y) pairs, got {type(pair).__name__}"
        f"{' of length ' + str(len(pair)) if hasattr(pair, '__len__') else ''}. "
        f"Fix: pass e.g. list(zip(xs, ys)) or a DataLoader of (x, y)."
    )


def device_of(model: Any) -> torch.device:
    """Where the model's first parameter (or buffer) lives; the CPU for a plain function."""
    if isinstance(model, nn.Module):
        for m in model.modules():  # read directly: a layer still inferring its size has none yet
            for t in (*m._parameters.values(), *m._buffers.values()):
                if t is not None:
                    return t.device
    return torch.device("cpu")


def batch_size(x: Any) -> int:
    """Data points in a batch (a ``Batch``'s raw tensor counts too); 1 for a single point."""
    raw = getattr(x, "raw", x)
    return raw.shape[0] if isinstance(raw, Tensor) and raw.dim() > 1 else 1
