"""Whole-sequence kernels: the stock cells over all time steps in one call to torch's fused RNN ops.

``unroll`` uses them when a layer is exactly ``LSTM`` or ``Recurrent`` (not a subclass),
whose equations are those of ``torch.nn.LSTM`` / ``torch.nn.RNN``; the weights are
concatenated in torch's gate order at call time, so gradients reach the seed's
parameters (and the initial states) unchanged.  Under ``torch.compile`` / ``torch.export``
the same equations are spelled out instead (input projections of all steps in one
matmul, then one matmul per step), which every compiler backend can lower.
``GatedRecurrent`` resets before its ``Wyh`` multiply, unlike torch's GRU, so it
always steps its equations.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable, Iterator

import torch
from torch import Tensor

from fluxtorch._state import Stateful
from fluxtorch.layers._checks import kind_mismatch
from fluxtorch.recurrent._layers import LSTM, Recurrent


def check_sequence(cell: Stateful, xs: Tensor, Wx: Tensor) -> None:
    """``xs`` must be ``(batch, n, in)`` for the cell's input size, dtype and device."""
    if xs.dim() != 3 or xs.shape[-1] != Wx.shape[0]:
        raise ValueError(
            f"{cell!r} expected a sequence of shape (batch, n, {Wx.shape[0]}), got shape "
            f"{tuple(xs.shape)}. Fix: give {Wx.shape[0]} features per time step, or build the "
            f"layer as {type(cell).__name__}({xs.shape[-1] if xs.dim() else '?'}, {Wx.shape[1]})."
        )
    mismatch = kind_mismatch(repr(cell), xs, Wx)
    if mismatch is not None:
        raise mismatch


def _start(cell: Stateful, name: str, batch: tuple[int, ...]) -> Tensor:
    """The state carried into this run, else the initial state; ``(1, batch, out)`` for torch."""
    held = cell.__dict__.get(name)
    start = held if held is not None else cell.initial_state(name, batch)
    return start.unsqueeze(0).contiguous()


def _spelled_out(xs: Tensor) -> bool:
    """Whether to write the recurrence as matmuls: under a compiler, or inside ``torch.func.vmap``."""
    return torch.compiler.is_compiling() or torch._C._functorch.is_batchedtensor(xs)


def lstm_over_time(cell: LSTM, xs: Tensor) -> Tensor:
    """``(batch, n, in)`` → ``(batch, n, out)``, leaving the last ``y`` and ``state`` in the cell."""
    check_sequence(cell, xs, cell.Wxf)
    batch = tuple(xs.shape[:1])
    b = torch.cat([cell.bi, cell.bf, cell.bc, cell.bo])  # torch's gate order: i, f, g (our c), o
    y, state = _start(cell, "y", batch), _start(cell, "state", batch)
    if _spelled_out(xs):  # torch.lstm has no compiled kernel on every device, nor a vmap rule
        Wx = torch.cat([cell.Wxi, cell.Wxf, cell.Wxc, cell.Wxo], 1)  # (in, 4H)
        Wy = torch.cat([cell.Wyi, cell.Wyf, cell.Wyc, cell.Wyo], 1)  # (H, 4H)
        ys, y, state = _lstm_scan(xs @ Wx + b, Wy, y[0], state[0])
    else:
        w_ih = torch.cat([cell.Wxi.t(), cell.Wxf.t(), cell.Wxc.t(), cell.Wxo.t()])  # (4H, in)
        w_hh = torch.cat([cell.Wyi.t(), cell.Wyf.t(), cell.Wyc.t(), cell.Wyo.t()])  # (4H, H)
        params = [w_ih, w_hh, b, torch.zeros_like(b)]
        with _fresh_weights(xs):
            ys, y, state = torch.lstm(xs, (y, state), params, True, 1, 0.0, False, False, True)
    cell.__dict__["y"], cell.__dict__["state"] = y[0], state[0]
    return ys


def _lstm_scan(gates_x: Tensor, Wy: Tensor, y: Tensor, state: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The LSTM equations over time, the input projections of all steps done up front."""
    ys = []
    for projected in gates_x.unbind(1):
        input, forget, candidate, output = (projected + y @ Wy).chunk(4, -1)
        state = torch.sigmoid(forget) * state + torch.sigmoid(input) * torch.tanh(candidate)
        y = torch.sigmoid(output) * torch.tanh(state)
        ys.append(y)
    return torch.stack(ys, 1), y[None], state[None]


def recurrent_over_time(cell: Recurrent, xs: Tensor) -> Tensor:
    """``(batch, n, in)`` → ``(batch, n, out)``, leaving the last ``y`` in the cell."""
    check_sequence(cell, xs, cell.Wxy)
    y = _start(cell, "y", tuple(xs.shape[:1]))
    if _spelled_out(xs):
        h, ys = y[0], []
        for projected in (xs @ cell.Wxy + cell.by).unbind(1):  # all steps' input projections at once
            h = torch.tanh(projected + h @ cell.Wyy)
            ys.append(h)
        ys, y = torch.stack(ys, 1), h[None]
    else:
        params = [cell.Wxy.t(), cell.Wyy.t(), cell.by, torch.zeros_like(cell.by)]
        with _fresh_weights(xs):
            ys, y = torch.rnn_tanh(xs, y, params, True, 1, 0.0, False, False, True)
    cell.__dict__["y"] = y[0]
    return ys


@contextlib.contextmanager
def _fresh_weights(xs: Tensor) -> Iterator[None]:
    """On CUDA, silence cuDNN's advice to ``flatten_parameters()``: the weights are rebuilt each call.

    cuDNN warns when an RNN's weights are not one contiguous buffer; here they are
    concatenated from the seed's per-gate matrices on every call by design (so their
    gradients reach those matrices), and there is no ``nn.LSTM`` to flatten.
    """
    if not xs.is_cuda:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous chunk")
        yield


FUSED: dict[type, Callable[[Stateful, Tensor], Tensor]] = {
    LSTM: lstm_over_time,
    Recurrent: recurrent_over_time,
}
