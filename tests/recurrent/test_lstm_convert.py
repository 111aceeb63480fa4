"""``LSTM`` ⇄ ``torch.nn.LSTM``: the converted model computes the same function, both ways."""

import pytest
import torch
from torch import nn

from fluxtorch import LSTM, from_torch_lstm, to_torch_lstm, unroll


def test_from_torch_computes_what_torch_computes() -> None:
    reference = nn.LSTM(4, 6, batch_first=True)
    xs = torch.randn(3, 5, 4)
    for ours in (from_torch_lstm(reference), LSTM.from_torch(reference)):
        torch.testing.assert_close(unroll(ours, 5)(xs), reference(xs)[0], atol=1e-5, rtol=1e-5)
        assert not ours.y.any() and not ours.state.any()


def test_to_torch_computes_what_ours_computes() -> None:
    ours = LSTM(4, 6)
    with torch.no_grad():
        for name, p in ours.named_parameters():
            if name not in ("y", "state"):
                p.normal_()
    xs = torch.randn(3, 5, 4)
    for theirs in (to_torch_lstm(ours), ours.to_torch()):
        assert theirs.batch_first
        torch.testing.assert_close(theirs(xs)[0], unroll(ours, 5)(xs), atol=1e-5, rtol=1e-5)
    time_first = ours.to_torch(batch_first=False)
    torch.testing.assert_close(time_first(xs.transpose(0, 1))[0].transpose(0, 1), unroll(ours, 5)(xs),
                               atol=1e-5, rtol=1e-5)


def test_round_trip_is_exact_and_independent() -> None:
    reference = nn.LSTM(3, 2).double()
    again = to_torch_lstm(from_torch_lstm(reference))
    assert again.weight_ih_l0.dtype == torch.float64
    torch.testing.assert_close(again.weight_ih_l0, reference.weight_ih_l0)
    torch.testing.assert_close(again.weight_hh_l0, reference.weight_hh_l0)
    torch.testing.assert_close(again.bias_ih_l0 + again.bias_hh_l0, reference.bias_ih_l0 + reference.bias_hh_l0)
    ours = from_torch_lstm(reference)
    with torch.no_grad():
        ours.Wxf.add_(1)
    assert not torch.equal(ours.Wxf.t(), reference.weight_ih_l0[2:4])


def test_without_biases_converts_with_zero_biases() -> None:
    reference = nn.LSTM(3, 2, bias=False, batch_first=True)
    xs = torch.randn(1, 4, 3)
    torch.testing.assert_close(unroll(from_torch_lstm(reference), 4)(xs), reference(xs)[0], atol=1e-6, rtol=1e-5)


def test_nonzero_initial_states_are_refused_unless_dropped() -> None:
    ours = LSTM(3, 2)
    with torch.no_grad():
        ours.y.fill_(0.5)
    with pytest.raises(ValueError, match=r"LSTM\(3 => 2\) has nonzero initial states.*drop_initial_state=True"):
        to_torch_lstm(ours)
    theirs = ours.to_torch(drop_initial_state=True)
    xs = torch.randn(2, 4, 3)
    hx = (ours.y.expand(1, 2, -1).contiguous(), ours.state.expand(1, 2, -1).contiguous())
    torch.testing.assert_close(theirs(xs, hx)[0], unroll(ours, 4)(xs), atol=1e-5, rtol=1e-5)


def test_unsupported_torch_lstms_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="one-layer, one-direction.*flip"):
        from_torch_lstm(nn.LSTM(3, 2, num_layers=2))
    with pytest.raises(ValueError, match="one-layer, one-direction"):
        from_torch_lstm(nn.LSTM(3, 2, bidirectional=True))
    with pytest.raises(TypeError, match="expected a torch.nn.LSTM, got GRU"):
        from_torch_lstm(nn.GRU(3, 2))
    with pytest.raises(TypeError, match=r"expected a fluxtorch LSTM, got torch\.nn\.modules\.rnn\.LSTM"):
        to_torch_lstm(nn.LSTM(3, 2))
