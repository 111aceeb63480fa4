"""Input declares a data point's shape and checks it."""

import pytest
import torch

from fluxtorch import Affine, Chain, Input


def test_passes_data_through_and_reprs() -> None:
    x = torch.randn(3, 4)
    assert Input(4)(x) is x and repr(Input(1, 28, 28)) == "Input(1, 28, 28)"


def test_wrong_shape_names_expected_and_got() -> None:
    with pytest.raises(ValueError, match=r"Input\(4\) expected data points of shape \(4,\), got a tensor of shape \(3, 5\)"):
        Chain(Input(4), Affine(2))(torch.randn(3, 5))


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="positive sizes"):
        Input(0)
    with pytest.raises(ValueError, match=r"positive sizes.*got Input\(\)"):
        Input()
    with pytest.raises(TypeError, match=r"Input expected int sizes.*got Input\(2.0,\)"):
        Input(2.0)


def test_numpy_sizes_are_taken_as_ints() -> None:
    import numpy as np

    layer = Input(np.prod((28, 28)))
    assert layer.shape == (784,) and type(layer.shape[0]) is int and repr(layer) == "Input(784)"
    assert Chain(Input(*np.array([1, 4, 4])), torch.flatten)(torch.ones(1, 4, 4)).shape == (16,)
