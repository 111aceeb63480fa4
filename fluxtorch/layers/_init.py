"""Weight initialisers: functions of a shape that return a new tensor."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def glorot_uniform(*shape: int) -> Tensor:
    """Glorot (Xavier) uniform weights of ``shape``, the default for every layer.

    >>> glorot_uniform(784, 128).shape
    torch.Size([784, 128])
    """
    return torch.nn.init.xavier_uniform_(torch.empty(*shape))


def initn(*shape: int) -> Tensor:
    """The seed's initialiser: standard normal values divided by 100.

    >>> initn(3, 2).abs().max() < 0.1
    tensor(True)
    """
    return torch.randn(*shape) / 100


def weights(init: Callable[..., Tensor], *shape: int, who: str) -> Tensor:
    """A weight of ``shape`` from ``init``: a function of the sizes, such as ``glorot_uniform``,
    or one of ``torch.nn.init``'s in-place initialisers, which fills a new tensor.

    >>> weights(torch.nn.init.ones_, 2, 3, who="Affine").sum()
    tensor(6.)
    """
    if getattr(init, "__module__", None) == "torch.nn.init":
        return init(torch.empty(*shape))
    try:
        w = init(*shape)
    except (TypeError, AttributeError) as err:
        raise TypeError(
            f"{who} calls init with the sizes of the weight, init{shape}, and it failed: {err}. "
            f"Fix: give a function of the sizes returning a tensor, such as glorot_uniform, initn "
            f"or torch.randn, or an in-place torch.nn.init function such as torch.nn.init.normal_."
        ) from err
    if not isinstance(w, Tensor) or tuple(w.shape) != shape:
        got = f"shape {tuple(w.shape)}" if isinstance(w, Tensor) else type(w).__name__
        raise TypeError(
            f"{who} expected init{shape} to return a tensor of shape {shape}, got {got}. "
            f"Fix: give a function of the sizes returning a tensor, such as glorot_uniform or torch.randn."
        )
    return w
