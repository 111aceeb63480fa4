"""Benchmark 5: ``torch.compile`` of a Chain against ``torch.compile`` of the same nn.Sequential.

Inductor on the CPU (or CUDA), ``fullgraph=True`` (a Chain must compile without graph
breaks).  Compile time is measured apart and excluded: each compiled model is called
until warm before timing, forward under ``no_grad`` and an SGD train step.
"""

from __future__ import annotations

import time

import torch

from bench._harness import Result, Settings, compare, seconds, skipped
from bench._models import mlp, same_output, sequential_twin, train_step

NAME = "5 compiled"
TARGET = 1.02


def run(settings: Settings) -> list[Result]:
    """Compiled forward and SGD step, after compiling and warming up both models."""
    torch.manual_seed(0)
    depth, width, batch = settings.scaled(10, 2), settings.scaled(256, 16), settings.scaled(64, 4)
    ours = mlp([width] * (depth + 1)).to(settings.device)
    plain = sequential_twin(ours)
    x = torch.randn(batch, width, device=settings.device)
    y = torch.randn(batch, width, device=settings.device)
    torch._dynamo.reset()
    try:  # pay inductor's one-time start-up here, so neither model's compile time carries it
        torch.compile(lambda t: (t * 2).relu(), fullgraph=True)(x)
    except Exception as err:  # no C++ compiler, an unsupported platform: say so and go on
        reason = f"torch.compile failed: {type(err).__name__}: {str(err).splitlines()[0][:120]}"
        return [skipped(NAME, "compiled forward / train step", reason)]
    compiled_ours = torch.compile(ours, fullgraph=True)
    compiled_plain = torch.compile(plain, fullgraph=True)
    try:
        build = {}
        for label, model in (("ours", compiled_ours), ("plain", compiled_plain)):
            start = time.perf_counter()
            with torch.no_grad():
                model(x)
            train_step(model, x, y)()
            build[label] = time.perf_counter() - start
    except Exception as err:  # no C++ compiler, an unsupported platform: say so and go on
        reason = f"torch.compile failed: {type(err).__name__}: {str(err).splitlines()[0][:120]}"
        return [skipped(NAME, "compiled forward / train step", reason)]
    same_output(compiled_ours, compiled_plain, x)
    note = f"compile+warm-up excluded: ours {seconds(build['ours'])}, plain {seconds(build['plain'])}"
    case = f"{depth}×(Affine({width}, {width}), relu), batch {batch}"
    with torch.no_grad():
        forward = compare(
            NAME, f"forward {case}", lambda: compiled_ours(x), lambda: compiled_plain(x), settings,
            target=TARGET, note=note,
        )
    step = compare(
        NAME, f"train step {case}", train_step(compiled_ours, x, y), train_step(compiled_plain, x, y),
        settings, target=TARGET,
    )
    return [forward, step]
