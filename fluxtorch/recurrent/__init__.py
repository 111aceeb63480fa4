"""Recurrence: the seed's cells as templates with ``State``, and the drivers that run them."""

from fluxtorch.recurrent._convert import from_torch_lstm, to_torch_lstm
from fluxtorch.recurrent._flip import Flip, flip
from fluxtorch.recurrent._layers import LSTM, GatedRecurrent, Recurrent
from fluxtorch.recurrent._unroll import Unroll, Unroll1, unroll, unroll1

__all__ = [
    "LSTM", "Flip", "GatedRecurrent", "Recurrent", "Unroll", "Unroll1",
    "flip", "from_torch_lstm", "to_torch_lstm", "unroll", "unroll1",
]
