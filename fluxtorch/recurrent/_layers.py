"""The seed's recurrent cells, each written as its equations: ``Recurrent``, ``GatedRecurrent``, ``LSTM``.

Each is a step model: one time step ``(batch, in)`` → ``(batch, out)``, reading its
state's previous value as ``self.y`` and assigning this step's.  ``unroll`` runs them
over sequences; ``unroll1`` steps them one call at a time.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import Tensor

from fluxtorch._template import Param, State, Template, net
from fluxtorch.layers._activation import tanh, σ
from fluxtorch.layers._init import glorot_uniform, weights

Init = Callable[..., Tensor]


@net
class Recurrent:
    """The plain recurrent cell: ``y = tanh(x Wxy + y₋₁ Wyy + by)``.

    ``Recurrent(in, out)`` from sizes, ``Recurrent(out)`` with the input size inferred,
    or ``Recurrent(Wxy, Wyy, by, y)`` from tensors (``y`` is the initial state).

    >>> r = Recurrent(3, 4)
    >>> r(torch.ones(2, 3)).shape          # one step from the initial state
    torch.Size([2, 4])
    >>> unroll(r, 5)(torch.ones(2, 5, 3)).shape
    torch.Size([2, 5, 4])
    """

    Wxy: Param
    Wyy: Param
    by: Param
    y: State

    def forward(self, x: Tensor) -> Tensor:
        check_step(self, x, self.Wxy)
        self.y = tanh(x @ self.Wxy + self.y @ self.Wyy + self.by)
        return self.y

    def extra_repr(self) -> str:
        return f"{self.Wxy.shape[0]} => {self.Wxy.shape[1]}"


@net
class GatedRecurrent:
    """The gated recurrent unit (GRU) of the seed, with ``reset`` and ``update`` gates.

    ``y′ = tanh(x Wxh + (reset * y₋₁) Wyh + bh)``, ``y = (1 - update) * y′ + update * y₋₁``.

    >>> unroll(GatedRecurrent(3, 4), 5)(torch.ones(2, 5, 3)).shape
    torch.Size([2, 5, 4])
    """

    Wxr: Param
    Wyr: Param
    br: Param
    Wxu: Param
    Wyu: Param
    bu: Param
    Wxh: Param
    Wyh: Param
    bh: Param
    y: State

    def forward(self, x: Tensor) -> Tensor:
        check_step(self, x, self.Wxr)
        reset = σ(x @ self.Wxr + self.y @ self.Wyr + self.br)
        update = σ(x @ self.Wxu + self.y @ self.Wyu + self.bu)
        candidate = tanh(x @ self.Wxh + (reset * self.y) @ self.Wyh + self.bh)
        self.y = (1 - update) * candidate + update * self.y
        return self.y

    def extra_repr(self) -> str:
        return f"{self.Wxr.shape[0]} => {self.Wxr.shape[1]}"


@net
class LSTM:
    """Long short-term memory: forget, input and output gates over a cell ``state``.

    Gates ``σ(x Wx· + y₋₁ Wy· + b·)``; ``state = forget * state₋₁ + input * tanh(x Wxc +
    y₋₁ Wyc + bc)``; ``y = output * tanh(state)``.  Given the same weights it computes
    what ``torch.nn.LSTM`` computes (``LSTM.from_torch`` / ``lstm.to_torch()`` convert).

    >>> lstm = LSTM(3, 4)
    >>> lstm.y.shape, lstm.state.shape     # initial states, trainable
    (torch.Size([4]), torch.Size([4]))
    >>> unroll(lstm, 5)(torch.ones(2, 5, 3)).shape
    torch.Size([2, 5, 4])
    """

    Wxf: Param
    Wyf: Param
    bf: Param
    Wxi: Param
    Wyi: Param
    bi: Param
    Wxo: Param
    Wyo: Param
    bo: Param
    Wxc: Param
    Wyc: Param
    bc: Param
    y: State
    state: State

    def forward(self, x: Tensor) -> Tensor:
        check_step(self, x, self.Wxf)
        forget = σ(x @ self.Wxf + self.y @ self.Wyf + self.bf)
        input = σ(x @ self.Wxi + self.y @ self.Wyi + self.bi)
        output = σ(x @ self.Wxo + self.y @ self.Wyo + self.bo)
        self.state = forget * self.state + input * tanh(x @ self.Wxc + self.y @ self.Wyc + self.bc)
        self.y = output * tanh(self.state)
        return self.y

    @classmethod
    def from_torch(cls, lstm: torch.nn.LSTM) -> LSTM:
        """The ``LSTM`` computing what a one-layer ``torch.nn.LSTM`` computes (zero initial states).

        >>> torch_lstm = torch.nn.LSTM(3, 4, batch_first=True)
        >>> LSTM.from_torch(torch_lstm)
        LSTM(3 => 4)
        """
        from fluxtorch.recurrent._convert import from_torch_lstm

        return from_torch_lstm(lstm)

    def to_torch(self, *, batch_first: bool = True, drop_initial_state: bool = False) -> torch.nn.LSTM:
        """A one-layer ``torch.nn.LSTM`` with this layer's weights (see ``to_torch_lstm``).

        >>> LSTM(3, 4).to_torch()
        LSTM(3, 4, batch_first=True)
        """
        from fluxtorch.recurrent._convert import to_torch_lstm

        return to_torch_lstm(self, batch_first=batch_first, drop_initial_state=drop_initial_state)

    def extra_repr(self) -> str:
        return f"{self.Wxf.shape[0]} => {self.Wxf.shape[1]}"


def check_step(cell: Template, x: Tensor, Wx: Tensor) -> None:
    """A cell takes one time step, ``(batch, in)`` or ``(in,)``; say how to run a sequence."""
    if x.dim() <= 2 and x.shape[-1:] == Wx.shape[:1]:
        return
    name = type(cell).__name__
    if x.dim() > 2:
        raise ValueError(
            f"{cell!r} is a step model: it takes one time step of shape (batch, {Wx.shape[0]}), "
            f"got shape {tuple(x.shape)}. Fix: run a sequence of shape (batch, n, {Wx.shape[0]}) "
            f"with unroll({name}(...), n)."
        )
    raise ValueError(
        f"{cell!r} expected input with {Wx.shape[0]} features in its last dimension, got shape "
        f"{tuple(x.shape)}. Fix: give data of shape (batch, {Wx.shape[0]}), or build the layer "
        f"as {name}({x.shape[-1] if x.dim() else '?'}, {Wx.shape[1]})."
    )


def _gates(count: int, in_: int, out: int, init: Init, name: str) -> list[Tensor]:
    """``count`` gates' ``Wx· (in, out)``, ``Wy· (out, out)``, ``b· (out,)``, in field order."""
    w = partial(weights, init, who=f"{name}({in_}, {out})")
    return [t for _ in range(count) for t in (w(in_, out), w(out, out), torch.zeros(out))]


@Recurrent.constructor
def _recurrent_sizes(in_: int, out: int, *, init: Init = glorot_uniform) -> Recurrent:
    return Recurrent(*_gates(1, in_, out, init, "Recurrent"), torch.zeros(out))


@Recurrent.constructor
def _recurrent_inferred(out: int, *, init: Init = glorot_uniform) -> Recurrent:
    return Recurrent.infer_features(out, init=init)


@GatedRecurrent.constructor
def _gru_sizes(in_: int, out: int, *, init: Init = glorot_uniform) -> GatedRecurrent:
    return GatedRecurrent(*_gates(3, in_, out, init, "GatedRecurrent"), torch.zeros(out))


@GatedRecurrent.constructor
def _gru_inferred(out: int, *, init: Init = glorot_uniform) -> GatedRecurrent:
    return GatedRecurrent.infer_features(out, init=init)


@LSTM.constructor
def _lstm_sizes(in_: int, out: int, *, init: Init = glorot_uniform) -> LSTM:
    return LSTM(*_gates(4, in_, out, init, "LSTM"), torch.zeros(out), torch.zeros(out))


@LSTM.constructor
def _lstm_inferred(out: int, *, init: Init = glorot_uniform) -> LSTM:
    return LSTM.infer_features(out, init=init)
