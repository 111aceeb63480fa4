"""Initialisers: ``glorot_uniform``, ``initn``, and how layers call the ``init`` they are given."""

import pytest
import torch

from fluxtorch import LSTM, Affine, Chain, Conv2D, Input, glorot_uniform, initn


def test_glorot_uniform_stays_within_its_bound() -> None:
    w = glorot_uniform(300, 200)
    assert w.shape == (300, 200) and w.abs().max() <= (6 / 500) ** 0.5


def test_initn_is_a_hundredth_of_a_normal() -> None:
    torch.manual_seed(0)
    expected = torch.randn(3, 2) / 100
    torch.manual_seed(0)
    assert torch.equal(initn(3, 2), expected)


def test_torch_nn_init_functions_work_as_init() -> None:
    assert torch.equal(Affine(3, 4, init=torch.nn.init.ones_).W, torch.ones(3, 4))
    assert Affine(3, 4, init=torch.nn.init.xavier_normal_).W.shape == (3, 4)
    assert Chain(Input(3), Affine(4, init=torch.nn.init.kaiming_uniform_))[1].W.shape == (3, 4)
    assert Conv2D(1, 4, 3, init=torch.nn.init.kaiming_normal_).W.shape == (4, 1, 3, 3)
    lstm = LSTM(3, 4, init=torch.nn.init.orthogonal_)
    assert torch.allclose(lstm.Wyf @ lstm.Wyf.T, torch.eye(4), atol=1e-5)


def test_an_init_of_the_wrong_kind_is_named_with_the_fix() -> None:
    with pytest.raises(TypeError, match=r"Affine\(3, 4\) calls init with the sizes of the weight, init\(3, 4\)"):
        Affine(3, 4, init=lambda shape: torch.randn(shape))
    with pytest.raises(TypeError, match=r"LSTM\(3, 4\) calls init .* Fix: give a function of the sizes"):
        LSTM(3, 4, init=lambda shape: torch.randn(shape))


def test_an_init_returning_the_wrong_shape_is_refused() -> None:
    with pytest.raises(TypeError, match=r"expected init\(3, 4\) to return a tensor of shape \(3, 4\), got shape \(4, 3\)"):
        Affine(3, 4, init=lambda i, o: torch.randn(o, i))
