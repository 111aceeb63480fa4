"""Running a model in eval mode for a while, then giving each layer its own mode back."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from torch import nn


@contextmanager
def evaluating(model: Any) -> Iterator[None]:
    """Eval mode inside the block; afterwards every layer gets its own training flag back.

    >>> m = Chain(Affine(2, 2), torch.nn.Dropout())
    >>> with evaluating(m):
    ...     m[1].training
    False
    >>> m[1].training
    True
    """
    modes = [(m, m.training) for m in model.modules()] if isinstance(model, nn.Module) else []
    if modes:
        model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training
