"""Convolution shims against torch.nn.functional, with inferred shapes."""

import pytest
import torch
import torch.nn.functional as F

from fluxtorch import AvgPool, Chain, Conv2D, Input, MaxPool, Reshape, flatten, relu


def test_conv2d_matches_functional_conv2d() -> None:
    conv = Conv2D(3, 8, 3, stride=2, padding=1)
    x = torch.randn(2, 3, 9, 9)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.W, conv.b, stride=2, padding=1))
    assert conv.W.shape == (8, 3, 3, 3) and repr(conv) == "Conv2D(3 => 8, (3, 3), stride=2, padding=1)"


def test_inferred_channels_and_sizes_in_a_chain() -> None:
    m = Chain(Input(1, 28, 28), Conv2D(8, 3), relu, MaxPool(2), Conv2D(4, (3, 3)), AvgPool(2), flatten, Reshape(4, 5, 5), flatten)
    assert m[1].W.shape == (8, 1, 3, 3) and m[4].W.shape == (4, 8, 3, 3)
    x = torch.randn(2, 1, 28, 28)
    assert m(x).shape == (2, 100)
    ref = F.avg_pool2d(F.conv2d(F.max_pool2d(F.relu(F.conv2d(x, m[1].W, m[1].b)), 2), m[4].W, m[4].b), 2).flatten(1)
    torch.testing.assert_close(m(x), ref)


def test_pools_and_reshape() -> None:
    x = torch.randn(1, 2, 6, 6)
    torch.testing.assert_close(MaxPool(3)(x), F.max_pool2d(x, 3))
    torch.testing.assert_close(AvgPool(2, 1)(x), F.avg_pool2d(x, 2, 1))
    assert Reshape(1, 28, 28)(torch.zeros(5, 784)).shape == (5, 1, 28, 28)
    assert Reshape(-1)(torch.zeros(5, 2, 3)).shape == (5, 6)


def test_wrong_channels_names_layer_and_fix() -> None:
    with pytest.raises(ValueError, match=r"Conv2D\(3 => 8, \(3, 3\)\) expected input of shape \(batch, 3, height, width\), got \(2, 1, 9, 9\)"):
        Conv2D(3, 8, 3)(torch.randn(2, 1, 9, 9))


def test_bad_reshape_says_sizes() -> None:
    with pytest.raises(ValueError, match=r"Reshape\(3, 3\) cannot reshape data points of shape \(8,\)"):
        Reshape(3, 3)(torch.zeros(2, 8))


def test_mismatched_parameters_and_bad_sizes_are_value_errors() -> None:
    with pytest.raises(ValueError, match=r"Conv2D expected W of shape \(out, in, kh, kw\) and b of shape \(out,\), got W of shape \(8, 1, 3, 3\) and b of shape \(7,\)"):
        Conv2D(torch.randn(8, 1, 3, 3), torch.zeros(7))
    with pytest.raises(ValueError, match=r"Conv2D sizes must be non-negative and the kernel positive, got in=-1"):
        Conv2D(-1, 8, 3)
    with pytest.raises(ValueError, match=r"Conv2D\(\? => 8\) takes its input channels from inputs of shape \(batch, channels, height, width\), got shape \(5,\)"):
        Conv2D(8, 3)(torch.ones(5))


def test_wrong_dtype_is_a_type_error_naming_both_dtypes() -> None:
    with pytest.raises(TypeError, match=r"Conv2D\(1 => 2, \(3, 3\)\) holds torch.float32 parameters on cpu, got input of dtype torch.float64"):
        Conv2D(1, 2, 3)(torch.ones(1, 1, 5, 5, dtype=torch.float64))


def test_pools_and_reshape_refuse_data_that_is_not_a_batch() -> None:
    with pytest.raises(ValueError, match=r"MaxPool\(2\) expected images of shape \(batch, channels, height, width\), got shape \(3,\)"):
        MaxPool(2)(torch.ones(3))
    with pytest.raises(ValueError, match=r"AvgPool\(2\) expected images.*got shape \(2, 3\)"):
        AvgPool(2)(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"Reshape\(1, 28, 28\) expected a batch of data points, \(batch, ...\), got shape \(784,\).*unsqueeze"):
        Reshape(1, 28, 28)(torch.ones(784))
    assert MaxPool(2)(torch.ones(3, 4, 4)).shape == (3, 2, 2)  # one unbatched image, as torch allows
