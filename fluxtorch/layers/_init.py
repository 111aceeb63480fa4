"""Weight initialisers: functions of a shape that return a new tensor."""

from __future__ import annotations

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
