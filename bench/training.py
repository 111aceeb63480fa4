"""Benchmark 3: ``train`` against a hand-written PyTorch loop, one epoch of the MNIST MLP.

784-128-64-10 (``Affine``/``relu``), synthetic data (100 batches of 64, class indices),
``F.cross_entropy`` and SGD on both sides; the two models are identical copies, so the
difference is the loop: ``train``'s pair unpacking, device moves, loss check (one
``.item()`` per step), history and callbacks against the bare five lines.
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

from bench._harness import Result, Settings, compare, skipped
from bench._models import mlp

NAME = "3 train"
TARGET = 1.03


def quietly(f: Callable[..., None], *args: object, **kwargs: object) -> None:
    """``f(*args, **kwargs)`` with stderr (where the progress bar draws) discarded."""
    with contextlib.redirect_stderr(io.StringIO()):
        f(*args, **kwargs)


def hand_loop(model: Callable[[Tensor], Tensor], data: list[tuple[Tensor, Tensor]], opt: torch.optim.Optimizer) -> None:
    """The loop a PyTorch user writes by hand."""
    for x, y in data:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()


def run(settings: Settings) -> list[Result]:
    """One epoch of train against the hand loop, with and without the progress setting."""
    try:
        from fluxtorch import train
    except ImportError:
        return [skipped(NAME, "train vs hand loop", "train not available in fluxtorch")]
    torch.manual_seed(0)
    batches, batch = settings.scaled(100, 3), settings.scaled(64, 8)
    ours = mlp([784, 128, 64, 10], final_relu=False).to(settings.device)
    plain = copy.deepcopy(ours)
    data = [
        (torch.randn(batch, 784, device=settings.device), torch.randint(0, 10, (batch,), device=settings.device))
        for _ in range(batches)
    ]
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.01)
    opt_plain = torch.optim.SGD(plain.parameters(), lr=0.01)
    case = f"one epoch, {batches} batches of {batch}, SGD"
    quiet = compare(
        NAME, f"{case}, progress=False", lambda: train(ours, data, loss=F.cross_entropy, opt=opt_ours, progress=False),
        lambda: hand_loop(plain, data, opt_plain), settings, target=TARGET, sample_seconds=0.1, samples=15,
    )
    shown = compare(
        NAME, f"{case}, default progress", lambda: quietly(train, ours, data, loss=F.cross_entropy, opt=opt_ours),
        lambda: quietly(hand_loop, plain, data, opt_plain), settings, target=TARGET, sample_seconds=0.1, samples=15,
        note="the bar drawn into a discarded stderr",
    )
    return [quiet, shown]
