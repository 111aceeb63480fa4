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
