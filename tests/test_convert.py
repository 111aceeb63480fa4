"""Data given at a model's edge becomes a tensor."""

import numpy as np
import pytest
import torch

from fluxtorch._convert import at_edge, to_tensor


def test_lists_and_arrays_take_default_float_dtype() -> None:
    assert to_tensor([1, 2]).dtype == torch.float32
    assert to_tensor(np.ones(3, dtype=np.float64)).dtype == torch.float32
    assert to_tensor([True, False]).dtype == torch.bool


def test_tensors_and_other_objects_pass_through() -> None:
    t = torch.ones(2, dtype=torch.int64)
    assert at_edge(t) is t and at_edge((1, 2)) == (1, 2)


def test_ragged_and_text_are_type_errors() -> None:
    with pytest.raises(TypeError, match="rectangular"):
        to_tensor([[1, 2], [3]])
    with pytest.raises(TypeError, match="got str"):
        to_tensor("text")
