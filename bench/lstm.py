"""Benchmark 4: the unrolled fluxtorch ``LSTM`` against ``torch.nn.LSTM``, char-RNN shape.

Batch 50, 50 steps, 65 inputs, 256 hidden, forward + backward of ``out.sum()``.
``nn.LSTM`` gets the same weights (gates stacked i, f, g, o as torch stores them) and the
template's trainable initial state as ``(h0, c0)``, so both compute the same function.
Memory is the activation memory autograd saves for the backward pass (see
``bench._memory``); on CUDA the allocator's peak, with cuDNN's LSTM as the reference.
"""

from __future__ import annotations

import torch
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


def models(settings: Settings, batch: int, steps: int, n_in: int, hidden: int):
    """The unrolled fluxtorch LSTM and a function running ``nn.LSTM`` on the same weights."""
    from fluxtorch import LSTM, unroll

    torch.manual_seed(0)
    step = LSTM(n_in, hidden).to(settings.device)
    ours = unroll(step, steps, stateful=False)
    twin = torch_twin(step)

    def plain(x: Tensor) -> Tensor:
        h0 = step.y.detach().expand(1, x.shape[0], hidden).contiguous()
        c0 = step.state.detach().expand(1, x.shape[0], hidden).contiguous()
        return twin(x, (h0, c0))[0]

    return ours, plain, [*step.parameters(), *twin.parameters()]


def run(settings: Settings) -> list[Result]:
    try:
        import fluxtorch

        fluxtorch.LSTM, fluxtorch.unroll
    except AttributeError as err:
        return [skipped(NAME, "unrolled LSTM vs nn.LSTM", f"{err.name} not available in fluxtorch")]
    batch, steps, hidden = settings.scaled(50, 4), settings.scaled(50, 5), settings.scaled(256, 8)
    n_in = settings.scaled(65, 6)
    ours, plain, params = models(settings, batch, steps, n_in, hidden)
    x = torch.randn(batch, steps, n_in, device=settings.device)
    with torch.no_grad():
        gap = (ours(x) - plain(x)).abs().max().item()
    if gap > 1e-4:
        raise AssertionError(f"unrolled LSTM and nn.LSTM disagree by {gap:.3g} on the same weights")
    case = f"batch {batch}, {steps} steps, {n_in} → {hidden}"
    backend = "cuDNN" if settings.device.startswith("cuda") else "ATen CPU"
    speed = compare(
        NAME, f"forward+backward {case}", lambda: ours(x).sum().backward(), lambda: plain(x).sum().backward(),
        settings, target=TARGET, sample_seconds=0.2, samples=11, note=f"reference: nn.LSTM ({backend})",
    )
    if settings.device.startswith("cuda"):
        memory = Result(
            NAME, "peak memory, forward+backward (CUDA allocator)",
            cuda_peak(lambda: ours(x).sum().backward()), cuda_peak(lambda: plain(x).sum().backward()),
            target=MEMORY_TARGET, unit="B",
        )
    else:
        memory = Result(
            NAME, "activation memory saved for backward",
            saved_for_backward(lambda: ours(x).sum(), exclude=[x, *params]),
            saved_for_backward(lambda: plain(x).sum(), exclude=[x, *params]),
            target=MEMORY_TARGET, unit="B",
        )
    return [speed, memory]
