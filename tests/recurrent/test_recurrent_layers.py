"""``Recurrent``, ``GatedRecurrent``, ``LSTM`` against their equations, written out by hand."""

import pytest
import torch
from torch import Tensor

from fluxtorch import LSTM, Chain, GatedRecurrent, Input, Recurrent, UninferredError, initn, unroll, unroll1

σ, tanh = torch.sigmoid, torch.tanh


def randomize(cell: torch.nn.Module) -> torch.nn.Module:
    """Nonzero biases and initial states too, so every term of the equations is checked."""
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return cell


def recurrent_by_hand(c: Recurrent, xs: Tensor) -> Tensor:
    y, ys = c.y, []
    for t in range(xs.shape[1]):
        y = tanh(xs[:, t] @ c.Wxy + y @ c.Wyy + c.by)
        ys.append(y)
    return torch.stack(ys, 1)


def gru_by_hand(c: GatedRecurrent, xs: Tensor) -> Tensor:
    y, ys = c.y, []
    for t in range(xs.shape[1]):
        x = xs[:, t]
        reset = σ(x @ c.Wxr + y @ c.Wyr + c.br)
        update = σ(x @ c.Wxu + y @ c.Wyu + c.bu)
        candidate = tanh(x @ c.Wxh + (reset * y) @ c.Wyh + c.bh)
        y = (1 - update) * candidate + update * y
        ys.append(y)
    return torch.stack(ys, 1)


def lstm_by_hand(c: LSTM, xs: Tensor) -> Tensor:
    y, state, ys = c.y, c.state, []
    for t in range(xs.shape[1]):
        x = xs[:, t]
        forget = σ(x @ c.Wxf + y @ c.Wyf + c.bf)
        input = σ(x @ c.Wxi + y @ c.Wyi + c.bi)
        output = σ(x @ c.Wxo + y @ c.Wyo + c.bo)
        state = forget * state + input * tanh(x @ c.Wxc + y @ c.Wyc + c.bc)
        y = output * tanh(state)
        ys.append(y)
    return torch.stack(ys, 1)


CELLS = [(Recurrent, recurrent_by_hand), (GatedRecurrent, gru_by_hand), (LSTM, lstm_by_hand)]
IDS = ["Recurrent", "GatedRecurrent", "LSTM"]


@pytest.mark.parametrize("cell, by_hand", CELLS, ids=IDS)
def test_unroll_equals_the_equations_step_by_step(cell, by_hand, path: str) -> None:
    c = randomize(cell(3, 5)).double()
    xs = torch.randn(4, 6, 3, dtype=torch.float64)
    torch.testing.assert_close(unroll(c, 6)(xs), by_hand(c, xs))


@pytest.mark.parametrize("cell, by_hand", CELLS, ids=IDS)
def test_unroll1_equals_the_equations_step_by_step(cell, by_hand) -> None:
    c = randomize(cell(3, 5)).double()
    xs = torch.randn(2, 4, 3, dtype=torch.float64)
    step = unroll1(c)
    torch.testing.assert_close(torch.stack([step(xs[:, t]) for t in range(4)], 1), by_hand(c, xs))


@pytest.mark.parametrize("cell, by_hand", CELLS, ids=IDS)
def test_a_single_data_point_gives_a_single_result(cell, by_hand) -> None:
    c = randomize(cell(3, 5)).double()
    xs = torch.randn(6, 3, dtype=torch.float64)
    torch.testing.assert_close(unroll(c, 6)(xs), by_hand(c, xs[None])[0])
    assert c(xs[0]).shape == (5,)


@pytest.mark.parametrize("cell", [Recurrent, GatedRecurrent, LSTM], ids=IDS)
def test_gradcheck_through_unroll(cell, path: str) -> None:
    c = randomize(cell(2, 3)).double()
    xs = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)
    model = unroll(c, 3, stateful=False)
    assert torch.autograd.gradcheck(model, (xs,))
    names, params = zip(*c.named_parameters())

    def from_params(*ps: Tensor) -> Tensor:
        return unroll(cell(*ps), 3)(xs)

    assert torch.autograd.gradcheck(from_params, params), names


@pytest.mark.parametrize("cell", [Recurrent, GatedRecurrent, LSTM], ids=IDS)
def test_gradients_reach_every_parameter_and_the_initial_states(cell, path: str) -> None:
    c = randomize(cell(3, 4))
    unroll(c, 5)(torch.randn(2, 5, 3)).square().sum().backward()
    for name, p in c.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert {"y"} <= {name for name, _ in c.named_parameters()}


def test_seed_parameter_names_and_shapes() -> None:
    lstm = LSTM(3, 4)
    shapes = {name: tuple(p.shape) for name, p in lstm.named_parameters()}
    for gate in "fioc":
        assert shapes[f"Wx{gate}"] == (3, 4) and shapes[f"Wy{gate}"] == (4, 4) and shapes[f"b{gate}"] == (4,)
    assert shapes["y"] == shapes["state"] == (4,)
    gru = GatedRecurrent(3, 4)
    assert [n for n, _ in gru.named_parameters()] == [
        "Wxr", "Wyr", "br", "Wxu", "Wyu", "bu", "Wxh", "Wyh", "bh", "y"
    ]
    assert [n for n, _ in Recurrent(3, 4).named_parameters()] == ["Wxy", "Wyy", "by", "y"]


def test_constructor_from_sizes_is_glorot_weights_and_zero_biases_and_states() -> None:
    torch.manual_seed(0)
    lstm = LSTM(30, 40)
    bound = (6 / (30 + 40)) ** 0.5
    assert 0.8 * bound < lstm.Wxf.abs().max() <= bound
    for name in ("bf", "bi", "bo", "bc", "y", "state"):
        assert not getattr(lstm, name).any(), name
    assert LSTM(3, 4, init=initn).Wxf.abs().max() < 0.1


def test_constructor_from_tensors_keeps_them() -> None:
    W, U, b, y = torch.ones(2, 3), torch.eye(3), torch.zeros(3), torch.ones(3)
    r = Recurrent(W, U, b, y)
    assert torch.equal(r.Wxy, W) and torch.equal(r.y, y)


def test_size_inferred_cells() -> None:
    model = Chain(Input(6), LSTM(8), GatedRecurrent(5), Recurrent(4))
    assert repr(model).startswith("Chain(Input(6), LSTM(6 => 8), GatedRecurrent(8 => 5), Recurrent(5 => 4))")
    assert unroll(model, 3)(torch.randn(2, 3, 6)).shape == (2, 3, 4)
    lazy = unroll(LSTM(8), 3)
    with pytest.raises(UninferredError, match="not inferred yet"):
        list(lazy.parameters())
    assert lazy(torch.randn(2, 3, 5)).shape == (2, 3, 8)
    assert repr(lazy) == "unroll(LSTM(5 => 8), 3)"
    assert len(list(lazy.parameters())) == 14


def test_repr_reads_like_the_code() -> None:
    assert repr(LSTM(65, 256)) == "LSTM(65 => 256)"
    assert repr(GatedRecurrent(3, 4)) == "GatedRecurrent(3 => 4)"
    assert repr(Recurrent(3, 4)) == "Recurrent(3 => 4)"
    assert repr(LSTM(7)) == "LSTM(? => 7)"


def test_a_step_model_given_a_sequence_says_to_unroll_it() -> None:
    with pytest.raises(ValueError, match=r"LSTM\(3 => 4\) is a step model.*unroll\(LSTM\(\.\.\.\), n\)") as info:
        LSTM(3, 4)(torch.randn(2, 5, 3))
    assert "(2, 5, 3)" in str(info.value)


@pytest.mark.parametrize("cell", [Recurrent, GatedRecurrent, LSTM], ids=IDS)
def test_wrong_feature_count_names_the_layer_and_the_fix(cell, path: str) -> None:
    name = cell.__name__
    with pytest.raises(ValueError, match=rf"{name}\(3 => 4\) expected .*3.* got shape \(2, 5\).*{name}\(5, 4\)"):
        cell(3, 4)(torch.randn(2, 5))
    with pytest.raises(ValueError, match=rf"{name}\(3 => 4\) expected .*{name}\(5, 4\)") as info:
        unroll(cell(3, 4), 6)(torch.randn(2, 6, 5))
    assert "(2, 6, 5)" in "\n".join([str(info.value), *getattr(info.value, "__notes__", [])])


def test_wrong_dtype_names_the_layer_and_the_fix() -> None:
    with pytest.raises(TypeError, match=r"LSTM\(3 => 4\) holds torch.float64 parameters .* got input of dtype torch.float32"):
        unroll(LSTM(3, 4).double(), 2)(torch.randn(1, 2, 3))


def test_cudnns_flatten_parameters_advice_is_silenced_only_on_cuda() -> None:
    import warnings
    from types import SimpleNamespace

    from fluxtorch.recurrent._fused import _fresh_weights

    advice = "RNN module weights are not part of single contiguous chunk of memory. To compact weights ..."
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with _fresh_weights(SimpleNamespace(is_cuda=True)):  # what torch.lstm warns on CUDA each call
            warnings.warn(advice, UserWarning)
        with _fresh_weights(torch.zeros(1)):
            warnings.warn(advice, UserWarning)
    assert len(seen) == 1


def test_size_inferred_cells_pickle_and_infer_after_loading() -> None:
    import pickle

    for cell in (LSTM(4), Recurrent(4), GatedRecurrent(4)):
        again = pickle.loads(pickle.dumps(cell))
        assert again(torch.randn(2, 3)).shape == (2, 4)
