"""Benchmark 2, compute-bound: batch 4096, width 1024; the time is the matrix products.

``Affine`` calls ``torch.addmm(b, x, W)`` with ``W`` stored ``(in, out)``; ``nn.Linear``
calls ``F.linear`` with its weight stored ``(out, in)``: the same BLAS work, read in the
other order.  Three layers with relu between, forward and SGD train step, all threads.
"""

from __future__ import annotations

import torch

from bench._harness import Result, Settings, compare
from bench._models import mlp, same_output, sequential_twin, train_step

NAME = "2 compute"
TARGET = 1.05


def run(settings: Settings) -> list[Result]:
    """Forward and SGD step of three 1024-wide layers on a batch of 4096."""
    torch.manual_seed(0)
    batch = settings.scaled(4096, 64)
    width = settings.scaled(1024, 32)
    ours = mlp([width] * 4, final_relu=False).to(settings.device)
    plain = sequential_twin(ours)
    x = torch.randn(batch, width, device=settings.device)
    y = torch.randn(batch, width, device=settings.device)
    same_output(ours, plain, x)
    case = f"{batch}×{width}, 3 layers"
    with torch.no_grad():
        forward = compare(
            NAME, f"forward {case}", lambda: ours(x), lambda: plain(x), settings,
            target=TARGET, sample_seconds=0.3, warmup=1, samples=15,
        )
    step = compare(
        NAME, f"train step {case}", train_step(ours, x, y), train_step(plain, x, y), settings,
        target=TARGET, sample_seconds=1.0, warmup=1, samples=11,
    )
    return [forward, step]
