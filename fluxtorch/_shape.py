"""Shape-only execution: run a model on fake tensors (meta storage, no FLOPs, no memory)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
from torch import Tensor
from torch._subclasses.fake_tensor import (
    DataDependentOutputException, DynamicOutputShapeException, FakeTensor, FakeTensorMode, unset_fake_temporarily,
)

# what a shape-only run raises at code that looks at values (.item(), `if` on a tensor, x[x > 0])
NEEDS_VALUES = (DataDependentOutputException, DynamicOutputShapeException)


def is_shape_only(x: Any) -> bool:
    """Whether ``x`` carries a shape but no data (a fake or meta tensor)."""
    return isinstance(x, FakeTensor) or (isinstance(x, Tensor) and x.is_meta)


@contextmanager
def real_tensors() -> Iterator[None]:
    """Create real tensors inside a shape-only run (for parameters built by size inference)."""
    with unset_fake_temporarily():
        yield


def run_on_shape(
    model: Callable[..., Any], shape: tuple[int, ...], *, dtype: torch.dtype | None = None
) -> Any:
    """Call ``model`` on a data-free tensor of ``shape``; returns its data-free output.

    >>> run_on_shape(torch.nn.Linear(3, 2), (4, 3)).shape
    torch.Size([4, 2])
    """
    with torch.no_grad(), FakeTensorMode(allow_non_fake_inputs=True):
        x = torch.empty(shape, dtype=dtype or torch.get_default_dtype())
        return model(x)
