"""Benchmark 6: ``outputsize`` and ``shapes`` on a 100-layer model, without computing.

The model is 50 × (Affine(512, 512), relu) given a (200_000, 512) input: run on real
data every activation would take 390 MiB, so the peak resident-memory growth shows
whether any activation was allocated.  The plain reference is what a PyTorch user
would write: the ``nn.Sequential`` twin moved to the ``meta`` device, called on a
meta tensor.  Targets: under 100 ms per call, memory growth well under one activation.
"""

from __future__ import annotations

import contextlib
import io
import tracemalloc
from typing import Callable

import torch

from bench._harness import Result, Settings, compare, skipped
from bench._memory import peak_rss_growth
from bench._models import mlp, sequential_twin
from fluxtorch._shape import run_on_shape

NAME = "6 shapes"
LIMIT = 0.1  # seconds


def python_peak(fn: Callable[[], object]) -> int:
    """Peak bytes of Python objects allocated while ``fn()`` runs (tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run(settings: Settings) -> list[Result]:
    """Time and memory of outputsize, shapes and run_on_shape against a meta-device run."""
    import fluxtorch

    torch.manual_seed(0)
    depth, width, batch = settings.scaled(50, 3), settings.scaled(512, 8), settings.scaled(200_000, 1000)
    model = mlp([width] * (depth + 1))
    meta = sequential_twin(model).to("meta")
    shape = (batch, width)
    activation = batch * width * 4
    reference = lambda: meta(torch.empty(shape, device="meta"))  # noqa: E731
    quiet = contextlib.redirect_stdout(io.StringIO())
    candidates = {
        "outputsize": lambda: fluxtorch.outputsize(model, shape),
        "shapes (printed to a buffer)": lambda: fluxtorch.shapes(model, shape),
        "run_on_shape (the fake-tensor core)": lambda: run_on_shape(model, shape),
    }
    results = []
    for label, call in candidates.items():
        name = label.split()[0]
        if name != "run_on_shape" and not hasattr(fluxtorch, name):
            results.append(skipped(NAME, label, f"{name} not available in fluxtorch"))
            continue
        case = f"{label}, {2 * depth} layers, input {shape}"
        with quiet:
            timing = compare(NAME, case, call, reference, settings, sample_seconds=0.2, samples=7)
            grown = peak_rss_growth(call)
            objects = python_peak(call)
        timing.limit = LIMIT
        timing.note = "plain: nn.Sequential on the meta device"
        results.append(timing)
        results.append(
            Result(
                NAME, f"{label}: peak RSS growth", grown, None, unit="B", limit=activation / 10,
                note=f"one real activation would be {activation / 2**20:.0f} MiB; "
                f"Python objects (tracemalloc peak): {objects / 2**10:.0f} KiB",
            )
        )
    return results
