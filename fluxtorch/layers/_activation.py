"""Activations and small helpers, as plain functions: a function is a model with no parameters.

``σ``, ``relu`` and ``tanh`` are torch's own kernels (no wrapper, no overhead).
"""

from __future__ import annotations

import torch
from torch import Tensor

σ = torch.sigmoid
sigmoid = σ
relu = torch.relu
tanh = torch.tanh


def softmax(x: Tensor) -> Tensor:
    """Softmax over the last dimension, so each row of a batch sums to one.

    >>> softmax(torch.zeros(2, 4))
    tensor([[0.2500, 0.2500, 0.2500, 0.2500],
            [0.2500, 0.2500, 0.2500, 0.2500]])
    """
    return torch.softmax(x, dim=-1)


def flatten(x: Tensor) -> Tensor:
    """Flatten each data point, keeping the batch dimension: ``(N, 2, 4)`` → ``(N, 8)``.

    >>> flatten(torch.zeros(5, 2, 4)).shape
    torch.Size([5, 8])
    """
    return torch.flatten(x, 1)
