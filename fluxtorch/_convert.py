"""Turning user data (lists, NumPy arrays, numbers) into tensors at a model's edge."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


def to_tensor(x: Any, *, who: str = "model") -> Tensor:
    """``x`` as a tensor; lists and arrays of real numbers take the default float dtype.

    >>> to_tensor([1, 2, 3])
    tensor([1., 2., 3.])
    """
    if isinstance(x, Tensor):
        return x
    raw = getattr(x, "raw", None)
    if isinstance(raw, Tensor):
        return raw
    if isinstance(x, (str, bytes)) or not isinstance(x, (list, tuple, np.ndarray, np.generic, int, float)):
        raise TypeError(
            f"{who} expected a tensor (or a list or NumPy array of numbers), got "
            f"{type(x).__name__}{' ' + repr(x[:20]) if isinstance(x, (str, bytes)) else ''}. "
            f"Fix: pass numbers, e.g. torch.tensor([...]) or a NumPy array."
        )
    try:
        tensor = torch.as_tensor(np.asarray(x) if isinstance(x, (list, tuple)) else x)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(
            f"{who} could not turn its {type(x).__name__} input into a tensor ({err}). "
            f"Fix: pass a rectangular list or array of numbers, or a tensor."
        ) from None
    if tensor.dtype == torch.bool or tensor.is_complex():
        return tensor
    return tensor.to(torch.get_default_dtype())


def at_edge(x: Any, *, who: str = "model") -> Any:
    """Convert lists, arrays and numbers given to a model, unwrap a ``Batch``/``Seq`` to its
    raw tensor; pass tensors and other objects on.

    >>> at_edge(np.ones(2)), at_edge((1, 2))
    (tensor([1., 1.]), (1, 2))
    """
    raw = getattr(x, "raw", None)
    if isinstance(raw, Tensor):
        return raw
    if isinstance(x, (list, np.ndarray, np.generic, int, float, str, bytes)) and not isinstance(x, bool):
        return to_tensor(x, who=who)
    return x
