"""Whole-sequence kernels: the stock cells over all time steps in one call to torch's fused RNN ops.

``unroll`` uses them when a layer is exactly ``LSTM`` or ``Recurrent`` (not a subclass),
whose equations are those of ``torch.nn.LSTM`` / ``torch.nn.RNN``; the weights are
concatenated in torch's gate order at call time, so gradients reach the seed's
parameters (and the initial states) unchanged.  ``GatedRecurrent`` resets before
its ``Wyh`` multiply, unlike torch's GRU, so it always steps its equations.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from fluxtorch._template import Stateful
from fluxtorch.recurrent._layers import LSTM, Recurrent


def check_sequence(cell: Stateful, xs: Tensor, Wx: Tensor) -> None:
    """``xs`` must be ``(batch, n, in)`` for the cell's input size."""
    if xs.dim() != 3 or xs.shape[-1] != Wx.shape[0]:
        raise ValueError(
            f"{cell!r} expected a sequence of shape (batch, n, {Wx.shape[0]}), got shape "
            f"{tuple(xs.shape)}. Fix: give {Wx.shape[0]} features per time step, or build the "
            f"layer as {type(cell).__name__}({xs.shape[-1] if xs.dim() else '?'}, {Wx.shape[1]})."
        )


def _start(cell: Stateful, name: str, batch: tuple[int, ...]) -> Tensor:
    """The state carried into this run, else the initial state; ``(1, batch, out)`` for torch."""
    held = cell.__dict__.get(name)
    start = held if held is not None else cell.initial_state(name, batch)
    return start.unsqueeze(0).contiguous()


def lstm_over_time(cell: LSTM, xs: Tensor) -> Tensor:
    """``(batch, n, in)`` → ``(batch, n, out)``, leaving the last ``y`` and ``state`` in the cell."""
    check_sequence(cell, xs, cell.Wxf)
    batch = tuple(xs.shape[:1])
    w_ih = torch.cat([cell.Wxi.t(), cell.Wxf.t(), cell.Wxc.t(), cell.Wxo.t()])  # (4H, in), gates i f g o
    w_hh = torch.cat([cell.Wyi.t(), cell.Wyf.t(), cell.Wyc.t(), cell.Wyo.t()])  # (4H, H)
    b_ih = torch.cat([cell.bi, cell.bf, cell.bc, cell.bo])
    hx = (_start(cell, "y", batch), _start(cell, "state", batch))
    ys, y, state = torch.lstm(xs, hx, [w_ih, w_hh, b_ih, torch.zeros_like(b_ih)], True, 1, 0.0, False, False, True)
    cell.__dict__["y"], cell.__dict__["state"] = y[0], state[0]
    return ys


def recurrent_over_time(cell: Recurrent, xs: Tensor) -> Tensor:
    """``(batch, n, in)`` → ``(batch, n, out)``, leaving the last ``y`` in the cell."""
    check_sequence(cell, xs, cell.Wxy)
    w_ih, w_hh = cell.Wxy.t().contiguous(), cell.Wyy.t().contiguous()
    hx = _start(cell, "y", tuple(xs.shape[:1]))
    ys, y = torch.rnn_tanh(xs, hx, [w_ih, w_hh, cell.by, torch.zeros_like(cell.by)], True, 1, 0.0, False, False, True)
    cell.__dict__["y"] = y[0]
    return ys


FUSED: dict[type, Callable[[Stateful, Tensor], Tensor]] = {LSTM: lstm_over_time, Recurrent: recurrent_over_time}
