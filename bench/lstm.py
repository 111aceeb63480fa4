"""Benchmark 4: the unrolled fluxtorch ``LSTM`` against ``torch.nn.LSTM``, char-RNN shape.

Batch 50, 50 steps, 65 inputs, 256 hidden, forward + backward of ``out.sum()``.
Two of ours: ``unroll(LSTM(65, 256), 50)``, which runs torch's fused LSTM kernel over the
sequence, and the same weights in a subclass of ``LSTM`` that ``unroll`` steps through
the template's equations one time step at a time (what any user-written cell gets).
``nn.LSTM`` gets the same weights (gates stacked i, f, g, o as torch stores them) and the
template's trainable initial state as ``(h0, c0)``, so both compute the same function.
Memory is the activation memory autograd saves for the backward pass (see
``bench._memory``); on CUDA the allocator's peak, with cuDNN's LSTM as the reference.
"""

from __future__ import annotations

import torch
from typing import Callable

from torch import Tensor, nn

from bench._harness import Result, Settings, compare, skipped
from bench._memory import cuda_peak, saved_for_backward

NAME = "4 LSTM"
TARGET = 1.3
MEMORY_TARGET = 1.5


def torch_twin(step: nn.Module) -> nn.LSTM:
    """An ``nn.LSTM`` (batch first) holding the weights of a fluxtorch ``LSTM`` step model."""
    n_in, n_out = step.Wxi.shape
    twin = nn.LSTM(n_in, n_out, batch_first=True, device=step.Wxi.device, dtype=step.Wxi.dtype)
    with torch.no_grad():  # torch's gate order is input, forget, cell (g), output
        twin.weight_ih_l0.copy_(torch.cat([step.Wxi, step.Wxf, step.Wxc, step.Wxo], dim=1).T)
        twin.weight_hh_l0.copy_(torch.cat([step.Wyi, step.Wyf, step.Wyc, step.Wyo], dim=1).T)
        twin.bias_ih_l0.copy_(torch.cat([step.bi, step.bf, step.bc, step.bo]))
        twin.bias_hh_l0.zero_()
    return twin


def models(
    settings: Settings, batch: int, steps: int, n_in: int, hidden: int
) -> tuple[dict[str, nn.Module], Callable[[Tensor], Tensor], list[Tensor]]:
    """The unrolled fluxtorch LSTM (fused and stepped) and ``nn.LSTM``, all with the same weights."""
    from fluxtorch import LSTM, unroll

    class SteppedLSTM(LSTM):
        """The LSTM template's equations, stepped: unroll fuses only the exact ``LSTM`` class."""

    torch.manual_seed(0)
    step = LSTM(n_in, hidden).to(settings.device)
    fused = unroll(step, steps, stateful=False)
    stepped = unroll(SteppedLSTM(*(getattr(step, f.name) for f in LSTM._fields)), steps, stateful=False)
    twin = torch_twin(step)

    def plain(x: Tensor) -> Tensor:
        h0 = step.y.detach().expand(1, x.shape[0], hidden).contiguous()
        c0 = step.state.detach().expand(1, x.shape[0], hidden).contiguous()
        return twin(x, (h0, c0))[0]

    return {"fused": fused, "stepped": stepped}, plain, [*step.parameters(), *twin.parameters()]


def run(settings: Settings) -> list[Result]:
    """Speed and memory of the fused and the stepped unrolled LSTM against nn.LSTM."""
    try:
        import fluxtorch

        fluxtorch.LSTM, fluxtorch.unroll
    except AttributeError as err:
        return [skipped(NAME, "unrolled LSTM vs nn.LSTM", f"{err.name} not available in fluxtorch")]
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # cuDNN would use TF32 by default, cuBLAS not: compare fp32 with fp32
    try:
        return _run(settings)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32


def _run(settings: Settings) -> list[Result]:
    batch, steps, hidden = settings.scaled(50, 4), settings.scaled(50, 5), settings.scaled(256, 8)
    n_in = settings.scaled(65, 6)
    ours, plain, params = models(settings, batch, steps, n_in, hidden)
    x = torch.randn(batch, steps, n_in, device=settings.device)
    cuda = settings.device.startswith("cuda")
    reference = f"nn.LSTM ({'cuDNN, fp32: TF32 off' if cuda else 'ATen CPU'})"
    shape = f"batch {batch}, {steps} steps, {n_in} → {hidden}"
    results = []
    for kind, model in ours.items():
        with torch.no_grad():
            gap = (model(x) - plain(x)).abs().max().item()
        if gap > 1e-4:
            raise AssertionError(f"{kind} unrolled LSTM and nn.LSTM disagree by {gap:.3g} on the same weights")
        results.append(
            compare(
                NAME, f"{kind}: forward+backward, {shape}", lambda: model(x).sum().backward(),
                lambda: plain(x).sum().backward(), settings, target=TARGET, sample_seconds=0.2, samples=11,
                note=f"reference: {reference}",
            )
        )
        if cuda:
            results.append(Result(
                NAME, f"{kind}: peak memory, forward+backward (CUDA allocator)",
                cuda_peak(lambda: model(x).sum().backward()), cuda_peak(lambda: plain(x).sum().backward()),
                target=MEMORY_TARGET, unit="B",
            ))
        else:
            results.append(Result(
                NAME, f"{kind}: activation memory saved for backward",
                saved_for_backward(lambda: model(x).sum(), exclude=[x, *params]),
                saved_for_backward(lambda: plain(x).sum(), exclude=[x, *params]),
                target=MEMORY_TARGET, unit="B",
            ))
    return results
