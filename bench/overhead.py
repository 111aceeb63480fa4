"""Benchmark 1, overhead-bound: 10 × (Affine(64, 64), relu), batch 8, one thread.

At this size each matrix product takes about a microsecond, so the time is Python and
dispatch: the Affine forward wrapper and checks, and Chain's loop, against
``nn.Sequential`` of ``nn.Linear``/``nn.ReLU`` holding the same weights.
"""

from __future__ import annotations

import torch

from bench._harness import Result, Settings, compare
from bench._models import mlp, same_output, sequential_twin, train_step
from fluxtorch import Chain

NAME = "1 overhead"
TARGET = 1.05


def run(settings: Settings) -> list[Result]:
    """Forward, grad forward and SGD step on one thread, then the per-layer and per-container breakdown."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        depth, width, batch = 10, 64, 8
        ours = mlp([width] * (depth + 1)).to(settings.device)
        plain = sequential_twin(ours)
        x = torch.randn(batch, width, device=settings.device)
        y = torch.randn(batch, width, device=settings.device)
        same_output(ours, plain, x)
        results = []
        with torch.no_grad():
            results.append(compare(NAME, "forward (no_grad)", lambda: ours(x), lambda: plain(x), settings, target=TARGET))
        results.append(compare(NAME, "forward (grad)", lambda: ours(x), lambda: plain(x), settings, target=TARGET))
        results.append(
            compare(NAME, "train step (SGD)", train_step(ours, x, y), train_step(plain, x, y), settings, target=TARGET)
        )
        results += _breakdown(ours, plain, x, settings)
        return results
    finally:
        torch.set_num_threads(threads)


def _breakdown(ours: Chain, plain: torch.nn.Sequential, x: torch.Tensor, settings: Settings) -> list[Result]:
    """Where the time goes: one layer against nn.Linear, and Chain's loop on identical modules."""
    affine, linear = ours[0], plain[0]
    same_container = Chain(*plain)  # the very nn.Linear / nn.ReLU modules of the Sequential
    with torch.no_grad():
        return [
            compare(NAME, "one Affine vs nn.Linear (no_grad)", lambda: affine(x), lambda: linear(x), settings, target=TARGET),
            compare(
                NAME, "Chain vs nn.Sequential, same modules (no_grad)", lambda: same_container(x), lambda: plain(x),
                settings, target=TARGET,
            ),
        ]
