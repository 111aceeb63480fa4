"""Activations are torch's own functions; softmax and flatten keep the batch."""

import torch

import fluxtorch
from fluxtorch import flatten, relu, sigmoid, softmax, tanh, σ


def test_names_and_aliases() -> None:
    assert σ is sigmoid is torch.sigmoid and relu is torch.relu and tanh is torch.tanh
    assert fluxtorch.σ is σ


def test_softmax_is_per_row() -> None:
    x = torch.randn(4, 6)
    torch.testing.assert_close(softmax(x), torch.softmax(x, dim=1))
    torch.testing.assert_close(softmax(x).sum(-1), torch.ones(4))
    torch.testing.assert_close(softmax(x[0]), torch.softmax(x[0], 0))


def test_flatten_keeps_batch() -> None:
    x = torch.arange(16.0).reshape(2, 2, 4)
    assert flatten(x).shape == (2, 8)
    assert torch.equal(flatten(x)[1], x[1].reshape(-1))
