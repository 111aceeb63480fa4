"""Losses ``(ŷ, y) -> scalar`` and ``accuracy``; classes sit in the last dimension, data points in the others."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from fluxtorch._convert import to_tensor
from fluxtorch._modes import evaluating
from fluxtorch.backend._device import move
from fluxtorch.training._batch import as_pair, device_of, is_pair


def mse(ŷ: Tensor, y: Any) -> Tensor:
    """Mean squared error over every element: ``mean((ŷ - y)²)``.

    >>> mse(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]))
    tensor(2.)
    """
    ŷ, y = _raw(ŷ, "mse"), _raw(y, "mse")
    if y.shape != ŷ.shape:
        if not y.is_floating_point() and y.shape == ŷ.shape[:-1]:
            fix = (
                "they look like class indices: train with loss=logitcrossentropy (on logits) or "
                "loss=logloss (on probabilities), or give one-hot targets, onehotbatch(y, labels)"
            )
        elif y.numel() == ŷ.numel():
            fix = f"reshape the targets, e.g. y.reshape({tuple(ŷ.shape)})"
        else:
            fix = "give one target value for each output value"
        raise ValueError(
            f"mse expected targets of the model's output shape {tuple(ŷ.shape)}, got "
            f"{tuple(y.shape)} (broadcasting them would silently compare every pair). Fix: {fix}."
        )
    return ((ŷ - y.to(ŷ.device, ŷ.dtype)) ** 2).mean()


def logloss(ŷ: Tensor, y: Any, *, eps: float = 1e-7) -> Tensor:
    """Cross entropy of probabilities ``ŷ`` (e.g. after ``softmax``) against targets ``y``.

    ``y`` holds one-hot rows (as in the seed; any dtype) or class indices; the mean is
    over data points (every dimension but the last).  ``ŷ`` is clamped to ``[eps, 1]`` so a zero
    probability gives a large, finite loss instead of infinity.

    >>> p = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    >>> logloss(p, torch.tensor([[1.0, 0.0], [1.0, 0.0]]))        # -(log .5 + log .9) / 2
    tensor(0.3993)
    >>> logloss(p, torch.tensor([0, 0]))                          # the same, as indices
    tensor(0.3993)
    """
    logp = _raw(ŷ, "logloss").clamp(min=eps).log()
    return -_pick(logp, y, "logloss").mean()


def logitcrossentropy(ŷ: Tensor, y: Any) -> Tensor:
    """Cross entropy of unnormalised scores (logits) ``ŷ``: ``logloss(softmax(ŷ), y)``, stably.

    The same as ``torch.nn.functional.cross_entropy`` with the classes in the last
    dimension; ``y`` holds one-hot rows or class indices.

    >>> z = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    >>> logitcrossentropy(z, torch.tensor([0, 1]))
    tensor(0.0878)
    >>> torch.nn.functional.cross_entropy(z, torch.tensor([0, 1]))
    tensor(0.0878)
    """
    return -_pick(torch.log_softmax(_raw(ŷ, "logitcrossentropy"), -1), y, "logitcrossentropy").mean()


crossentropy = logitcrossentropy
"""``crossentropy``: PyTorch's meaning (takes logits), an alias of ``logitcrossentropy``."""


def _raw(v: Any, who: str) -> Tensor:
    """A tensor from a tensor, a ``Batch``/``Seq`` (its raw tensor), a list or an array."""
    return v if isinstance(v, Tensor) else to_tensor(v, who=who)


def _pick(logp: Tensor, y: Any, who: str) -> Tensor:
    """Per-data-point ``sum(y * logp)`` for one-hot ``y``, or ``logp[y]`` for class indices."""
    y = _raw(y, who)
    if y.shape == logp.shape:  # one-hot rows of any dtype (F.one_hot gives int64)
        return (y.to(logp.device, logp.dtype) * logp).sum(-1)
    if not y.is_floating_point() and y.shape == logp.shape[:-1]:
        return logp.gather(-1, y.to(logp.device, torch.long).unsqueeze(-1)).squeeze(-1)
    raise ValueError(
        f"{who} expected targets as one-hot rows of shape {tuple(logp.shape)} or class "
        f"indices (integers) of shape {tuple(logp.shape[:-1])}; got {y.dtype} of shape "
        f"{tuple(y.shape)}. Fix: pass onehotbatch(labels, classes) or a torch.long tensor "
        f"of class positions."
    )


def accuracy(model: Callable[[Any], Any], data: Any) -> float:
    """Fraction of data points whose ``onecold`` prediction matches the target.

    ``data`` is one ``(x, y)`` pair or an iterable of pairs; targets are one-hot rows
    (as in the seed) or class indices.  Runs without gradients, in eval mode, on the
    model's device.

    >>> model = Affine(torch.eye(2), torch.zeros(2))
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 2.0]])
    >>> accuracy(model, (x, torch.tensor([0, 1, 0])))
    0.6666666666666666
    >>> accuracy(model, [(x[:2], torch.eye(2)), (x[2:], torch.tensor([[0.0, 1.0]]))])
    1.0
    """
    pairs = [data] if is_pair(data) else data
    device = device_of(model)
    right = total = 0
    with evaluating(model), torch.no_grad():
        for pair in pairs:
            x, y = as_pair(pair, "accuracy")
            ŷ = to_tensor(model(move(x, device)), who="accuracy")
            y = to_tensor(y, who="accuracy").to(ŷ.device)
            predicted = ŷ.argmax(-1)
            wanted = y  # class indices, or one-hot rows (float, int or bool) of the scores' shape
            if y.shape == ŷ.shape:
                wanted = (y.float() if y.dtype == torch.bool else y).argmax(-1)
            if wanted.shape != predicted.shape:
                raise ValueError(
                    f"accuracy: the model gave scores of shape {tuple(ŷ.shape)}, so targets "
                    f"must be one-hot rows of that shape or class indices of shape "
                    f"{tuple(predicted.shape)}; got shape {tuple(y.shape)}. Fix: pass targets "
                    f"as onehotbatch(labels, classes) or a tensor of class indices."
                )
            right += int((predicted == wanted).sum())
            total += predicted.numel()
    if total == 0:
        raise ValueError("accuracy got no data points. Fix: pass an (x, y) pair or a non-empty list of them.")
    return right / total
