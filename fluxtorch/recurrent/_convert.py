"""``LSTM`` ⇄ ``torch.nn.LSTM``: the same function, so either can stand in for the other.

torch stacks the gates as rows ``i, f, g, o`` of ``weight_ih (4H, in)`` and
``weight_hh (4H, H)``, applied as ``x @ weight_ih.T``, with two biases
``b_ih + b_hh``; the seed's ``LSTM`` keeps one ``(in, H)`` matrix per gate
(``Wxi``, ``Wxf``, ``Wxc`` for g, ``Wxo``) and one bias each.
"""

from __future__ import annotations

import torch
from torch import nn

from fluxtorch.recurrent._layers import LSTM

_GATES = ("i", "f", "c", "o")  # torch's row order; the seed calls the g gate c


def from_torch_lstm(lstm: nn.LSTM) -> LSTM:
    """An ``LSTM`` with the weights of a one-layer ``torch.nn.LSTM`` and zero initial states.

    >>> torch_lstm = torch.nn.LSTM(3, 4, batch_first=True)
    >>> ours = from_torch_lstm(torch_lstm)
    >>> xs = torch.randn(2, 5, 3)
    >>> torch.allclose(unroll(ours, 5)(xs), torch_lstm(xs)[0], atol=1e-6)
    True
    """
    if not isinstance(lstm, nn.LSTM):
        raise TypeError(
            f"from_torch_lstm expected a torch.nn.LSTM, got {type(lstm).__name__}. "
            f"Fix: pass an nn.LSTM; other layers have no fluxtorch.LSTM equivalent."
        )
    if lstm.num_layers != 1 or lstm.bidirectional or lstm.proj_size:
        raise ValueError(
            f"from_torch_lstm converts a one-layer, one-direction torch.nn.LSTM without projection; "
            f"got {lstm!r}. Fix: convert each layer separately (Chain(LSTM, LSTM)) and build the "
            f"backward direction with flip(LSTM(...))."
        )
    hidden = lstm.hidden_size
    with torch.no_grad():
        rows = lstm.weight_ih_l0.detach().t().split(hidden, dim=1)  # (in, H) per gate
        recur = lstm.weight_hh_l0.detach().t().split(hidden, dim=1)
        if lstm.bias:
            bias = (lstm.bias_ih_l0.detach() + lstm.bias_hh_l0.detach()).split(hidden)
        else:
            bias = lstm.weight_ih_l0.new_zeros(4 * hidden).split(hidden)
        gate = {g: (rows[k].clone(), recur[k].clone(), bias[k].clone()) for k, g in enumerate(_GATES)}
        zero = torch.zeros(hidden, dtype=rows[0].dtype, device=rows[0].device)
        return LSTM(*gate["f"], *gate["i"], *gate["o"], *gate["c"], zero, zero.clone())


def to_torch_lstm(lstm: LSTM, *, batch_first: bool = True, drop_initial_state: bool = False) -> nn.LSTM:
    """A one-layer ``torch.nn.LSTM`` computing what ``lstm`` computes from zero initial states.

    ``torch.nn.LSTM`` has no trainable initial state; if ``lstm``'s are not zero the
    conversion is refused unless ``drop_initial_state=True`` (then pass them yourself as
    ``hx``: ``lstm.y.expand(1, batch, -1)`` and ``lstm.state.expand(1, batch, -1)``).

    >>> ours = LSTM(3, 4)
    >>> theirs = to_torch_lstm(ours)
    >>> xs = torch.randn(2, 5, 3)
    >>> torch.allclose(theirs(xs)[0], unroll(ours, 5)(xs), atol=1e-6)
    True
    """
    if not isinstance(lstm, LSTM):
        got = f"{type(lstm).__module__}.{type(lstm).__qualname__}"
        raise TypeError(
            f"to_torch_lstm expected a fluxtorch LSTM, got {got}. "
            f"Fix: convert a fluxtorch.LSTM (a torch.nn.LSTM is already one)."
        )
    if not drop_initial_state and (lstm.y.detach().any() or lstm.state.detach().any()):
        raise ValueError(
            f"{lstm!r} has nonzero initial states (y, state), which torch.nn.LSTM cannot hold: it "
            f"always starts from zeros. Fix: pass drop_initial_state=True and give them as hx = "
            f"(lstm.y.expand(1, batch, -1), lstm.state.expand(1, batch, -1)) when calling it."
        )
    Wx = {g: getattr(lstm, f"Wx{g}") for g in _GATES}
    in_, hidden = Wx["i"].shape
    result = nn.LSTM(in_, hidden, batch_first=batch_first, device=Wx["i"].device, dtype=Wx["i"].dtype)
    with torch.no_grad():
        result.weight_ih_l0.copy_(torch.cat([Wx[g].t() for g in _GATES]))
        result.weight_hh_l0.copy_(torch.cat([getattr(lstm, f"Wy{g}").t() for g in _GATES]))
        result.bias_ih_l0.copy_(torch.cat([getattr(lstm, f"b{g}") for g in _GATES]))
        result.bias_hh_l0.zero_()
    return result
