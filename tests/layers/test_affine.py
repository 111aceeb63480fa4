"""Affine against torch.nn.functional.linear, gradcheck, sizes, inference and its errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from fluxtorch import Affine, Chain, Input, UninferredError, initn


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 6))
def test_matches_functional_linear_with_transposed_weight(n_in: int, n_out: int, batch: int) -> None:
    layer = Affine(n_in, n_out)
    torch.nn.init.normal_(layer.b)
    x = torch.randn(batch, n_in)
    torch.testing.assert_close(layer(x), F.linear(x, layer.W.T, layer.b))
    torch.testing.assert_close(layer(x[0]), F.linear(x[0], layer.W.T, layer.b))


def test_shapes_and_default_initialisation() -> None:
    torch.manual_seed(0)
    layer = Affine(784, 128)
    assert layer.W.shape == (784, 128) and layer.b.shape == (128,)
    assert torch.equal(layer.b, torch.zeros(128))
    bound = (6 / (784 + 128)) ** 0.5  # Glorot uniform
    assert layer.W.abs().max() <= bound and layer.W.abs().max() > 0.9 * bound
    assert not torch.equal(Affine(5, 5).W, Affine(5, 5).W)


def test_custom_init_and_given_parameters() -> None:
    assert Affine(10, 20, init=initn).W.std() < 0.05
    W, b = torch.randn(10, 20), torch.randn(20)
    layer = Affine(W, b)
    assert torch.equal(layer.W, W) and torch.equal(layer.b, b)
    assert isinstance(layer.W, torch.nn.Parameter)
    assert Affine(np.ones((2, 3)), [0.0, 1.0, 2.0]).W.dtype == torch.float32


def test_shared_parameters_stay_shared() -> None:
    first = Affine(3, 3)
    second = Affine(first.W, first.b)
    assert second.W is first.W


def test_single_point_and_batch_agree() -> None:
    layer = Affine(4, 2)
    x = torch.randn(3, 4)
    torch.testing.assert_close(layer(x)[1], layer(x[1]))
    assert layer(torch.randn(2, 3, 4)).shape == (2, 3, 2)


def test_gradcheck_float64() -> None:
    layer = Affine(4, 3).double()
    x = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, W, b: Affine(W, b)(x), (x, layer.W, layer.b))


def test_lists_and_arrays_are_converted() -> None:
    layer = Affine(torch.eye(3), torch.zeros(3))
    torch.testing.assert_close(layer([1, 2, 3]).detach(), torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(layer(np.array([[1.0, 2.0, 3.0]])).detach(), torch.tensor([[1.0, 2.0, 3.0]]))


def test_repr() -> None:
    assert repr(Affine(10, 5)) == "Affine(10 => 5)"
    assert repr(Affine(5)) == "Affine(? => 5)"


def test_wrong_feature_size_names_layer_expected_and_got() -> None:
    with pytest.raises(ValueError, match=r"Affine\(5 => 3\) expected input with 5 features.*got shape \(2, 4\)"):
        Affine(5, 3)(torch.randn(2, 4))


def test_wrong_dtype_is_a_type_error_naming_both_dtypes() -> None:
    with pytest.raises(TypeError, match=r"Affine\(3 => 2\) holds torch.float32.*got input of dtype torch.float64"):
        Affine(3, 2)(torch.randn(4, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="torch.int64"):
        Affine(3, 2)(torch.ones(4, 3, dtype=torch.int64))


def test_string_input_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"Affine\(3 => 2\) expected a tensor.*got str"):
        Affine(3, 2)("abc")


def test_inferred_input_size_at_first_call() -> None:
    layer = Affine(4)
    with pytest.raises(UninferredError, match=r"Affine\(\? => 4\).W does not exist yet.*Input"):
        layer.W + 1
    with pytest.raises(UninferredError, match="not inferred"):
        list(Chain(layer).parameters())
    assert layer(torch.randn(2, 7)).shape == (2, 4)
    assert layer.W.shape == (7, 4) and repr(layer) == "Affine(7 => 4)"
    assert [name for name, _ in layer.named_parameters()] == ["W", "b"]


def test_inferred_at_construction_after_input() -> None:
    model = Chain(Input(6), Affine(3))
    assert model[1].W.shape == (6, 3) and model[1].W.device.type == "cpu"
    assert not isinstance(model[1].W, torch._subclasses.FakeTensor)
    torch.optim.SGD(model.parameters(), lr=0.1)  # an optimizer can be built at once


def test_uninferred_layer_pickles_and_infers_after_loading() -> None:
    import pickle

    from fluxtorch import Conv2D

    again = pickle.loads(pickle.dumps(Chain(Affine(3), torch.relu)))
    assert again(torch.randn(2, 5)).shape == (2, 3)
    conv = pickle.loads(pickle.dumps(Conv2D(4, 3)))
    assert conv(torch.randn(1, 2, 5, 5)).shape == (1, 4, 3, 3)


def test_mismatched_parameters_and_bad_sizes_are_value_errors() -> None:
    with pytest.raises(ValueError, match=r"Affine expected W of shape \(in, out\) and b of shape \(out,\), got W of shape \(10, 20\) and b of shape \(19,\)"):
        Affine(torch.randn(10, 20), torch.randn(19))
    with pytest.raises(ValueError, match=r"got W of shape \(10,\)"):
        Affine(torch.randn(10), torch.randn(10))
    with pytest.raises(ValueError, match=r"integer sizes, Affine\(10, 20\)"):
        Affine(10, 20.5)  # not sizes, so read as W and b
    with pytest.raises(ValueError, match=r"Affine sizes must be non-negative, got -1, 3"):
        Affine(-1, 3)
    with pytest.raises(ValueError, match=r"non-negative, got -2"):
        Affine(-2)


def test_positional_init_points_at_the_constructors() -> None:
    with pytest.raises(TypeError, match=r"Fix: call Affine\(W, b\) or Affine\(in_: int, out: int, \*, init: Callable=...\)"):
        Affine(2, 3, initn)


def test_integer_input_error_suggests_converting_the_data_only() -> None:
    with pytest.raises(TypeError, match=r"x.to\(torch.float32\)\.") as info:
        Affine(3, 2)(torch.ones(4, 3, dtype=torch.int64))
    assert "model.to(torch.int64)" not in str(info.value)


def test_uninferred_size_from_a_0d_input_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"Affine\(\? => 3\) takes its input size from the last dimension.*0-d"):
        Affine(3)(torch.tensor(2.0))


def test_input_on_another_device_says_to_move_the_data_or_the_model() -> None:
    with pytest.raises(TypeError, match=r"on cpu, got input of dtype torch.float32 on meta\. Fix: move the data, e.g. x.to\('cpu'\)"):
        Affine(3, 2)(torch.ones(2, 3, device="meta"))


def test_sizes_that_are_not_whole_numbers_are_named_as_such() -> None:
    with pytest.raises(ValueError, match=r"Affine sizes must be whole numbers, got Affine\(2.5, 3.0\). Fix: give integer sizes"):
        Affine(2.5, 3)
    assert Affine(np.int64(3), 4).W.shape == (3, 4)
