"""``unroll``, ``unroll1`` and ``flip`` against torch.nn.LSTM and against stepping by hand."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from fluxtorch import LSTM, Affine, Chain, GatedRecurrent, Model, Recurrent, State, flip, net, relu, softmax
from fluxtorch import unroll, unroll1
from fluxtorch.recurrent import Unroll


def lstm_from(reference: nn.LSTM) -> LSTM:
    """The seed's gate matrices, read off torch's stacked rows i, f, g, o by hand."""
    H = reference.hidden_size
    W = reference.weight_ih_l0.detach().t().split(H, 1)
    U = reference.weight_hh_l0.detach().t().split(H, 1)
    b = (reference.bias_ih_l0 + reference.bias_hh_l0).detach().split(H)
    i, f, g, o = range(4)
    gates = [t for k in (f, i, o, g) for t in (W[k], U[k], b[k])]  # the seed's order: forget, input, output, c
    return LSTM(*gates, torch.zeros(H), torch.zeros(H))


@settings(max_examples=6, deadline=None)
@given(batch=st.integers(1, 4), steps=st.integers(1, 6), in_=st.integers(1, 5), hidden=st.integers(1, 6))
def test_unrolled_lstm_equals_torch_nn_lstm(batch: int, steps: int, in_: int, hidden: int) -> None:
    reference = nn.LSTM(in_, hidden, batch_first=True)
    ours = lstm_from(reference)
    xs = torch.randn(batch, steps, in_)
    torch.testing.assert_close(unroll(ours, steps)(xs), reference(xs)[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(unroll1(ours)(xs[:, 0]), reference(xs[:, :1])[0][:, 0], atol=1e-5, rtol=1e-5)


def test_unrolled_lstm_equals_torch_nn_lstm_on_the_generic_path(path: str) -> None:
    reference = nn.LSTM(4, 6, batch_first=True)
    xs = torch.randn(3, 7, 4)
    torch.testing.assert_close(unroll(lstm_from(reference), 7)(xs), reference(xs)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", [LSTM, GatedRecurrent, Recurrent])
def test_two_stateful_calls_on_halves_equal_one_call_on_the_whole(cell, path: str) -> None:
    step = cell(3, 4)
    xs = torch.randn(2, 8, 3)
    whole = unroll(step, 8)(xs)
    halves = unroll(step, 4)
    torch.testing.assert_close(torch.cat([halves(xs[:, :4]), halves(xs[:, 4:])], 1), whole)


@settings(max_examples=4, deadline=None)
@given(n=st.sampled_from([1, 2, 3, 6]), batch=st.integers(1, 3))
def test_consecutive_pieces_give_what_the_whole_sequence_gives(n: int, batch: int) -> None:
    step = Chain(LSTM(3, 4), GatedRecurrent(4, 2))
    xs = torch.randn(batch, 6, 3)
    pieces = unroll(step, n)
    outputs = [pieces(xs[:, t : t + n]) for t in range(0, 6, n)]
    torch.testing.assert_close(torch.cat(outputs, 1), unroll(step, 6)(xs))


def test_the_carried_state_is_detached(path: str) -> None:
    model = unroll(LSTM(3, 4), 5)
    model(torch.randn(2, 5, 3)).sum().backward()
    carried = model._carry[1][""]
    assert set(carried) == {"y", "state"} and not any(v.requires_grad for v in carried.values())
    model.zero_grad()
    model(torch.randn(2, 5, 3)).sum().backward()  # no "backward through the graph a second time"
    assert model.model.y.grad is None or not model.model.y.grad.any()


def test_reset_and_a_new_batch_size_start_from_the_initial_state(path: str) -> None:
    model = unroll(Chain(GatedRecurrent(3, 4), Affine(4, 2)), 5)
    xs, other = torch.randn(2, 5, 3), torch.randn(3, 5, 3)
    first = model(xs)
    assert not torch.allclose(model(xs), first)
    model.reset()
    torch.testing.assert_close(model(xs), first)
    fresh = unroll(model.model, 5, stateful=False)(other)
    torch.testing.assert_close(model(other), fresh)


def test_stateful_false_starts_every_call_afresh() -> None:
    model = unroll(LSTM(3, 4), 5, stateful=False)
    xs = torch.randn(2, 5, 3)
    torch.testing.assert_close(model(xs), model(xs))
    assert repr(model) == "unroll(LSTM(3 => 4), 5, stateful=False)"


def test_seq_false_feeds_the_same_input_at_every_step(path: str) -> None:
    step = LSTM(3, 4)
    x = torch.randn(2, 3)
    repeated = unroll(step, 6, stateful=False)(x[:, None].expand(2, 6, 3))
    torch.testing.assert_close(unroll(step, 6, seq=False)(x), repeated)
    torch.testing.assert_close(unroll(step, 6, seq=False, stateful=False)(x[0]), repeated[0])


def test_a_chain_of_recurrent_and_feed_forward_layers_equals_stepping_it(path: str) -> None:
    step = Chain(LSTM(5, 8), relu, GatedRecurrent(8, 6), Affine(6, 3), softmax)
    xs = torch.randn(4, 7, 5)
    ys = unroll(step, 7)(xs)
    by_step = unroll1(step)
    torch.testing.assert_close(ys, torch.stack([by_step(xs[:, t]) for t in range(7)], 1))
    assert ys.shape == (4, 7, 3)
    ys.sum().backward()
    assert all(p.grad is not None for p in step.parameters())


def test_unrolled_models_compose_inside_a_chain() -> None:
    model = Chain(unroll(LSTM(3, 8), 5), Affine(8, 2))
    assert model(torch.randn(4, 5, 3)).shape == (4, 5, 2)
    assert repr(model).startswith("Chain(unroll(LSTM(3 => 8), 5), Affine(8 => 2))")


def test_unroll1_carries_state_and_resets() -> None:
    step = unroll1(Chain(LSTM(3, 4), Affine(4, 2)))
    xs = torch.randn(2, 3, 3)
    ys = torch.stack([step(xs[:, t]) for t in range(3)], 1)
    torch.testing.assert_close(ys, unroll(step.model, 3)(xs))
    step.reset()
    torch.testing.assert_close(step(xs[:, 0]), ys[:, 0])
    assert repr(step) == "unroll1(Chain(LSTM(3 => 4), Affine(4 => 2)))"


def test_flip_equals_running_the_reversed_sequence(path: str) -> None:
    backward = flip(LSTM(3, 4))
    xs = torch.randn(2, 6, 3)
    expected = unroll(backward.model, 6)(xs.flip(1)).flip(1)
    torch.testing.assert_close(unroll(backward, 6)(xs), expected)
    torch.testing.assert_close(flip(unroll(backward.model, 6, stateful=False))(xs), expected)
    head = Affine(4, 2)
    torch.testing.assert_close(unroll(Chain(backward, head), 6)(xs), head(expected))
    assert repr(backward) == "flip(LSTM(3 => 4))"


def test_flip_of_a_step_model_outside_unroll_says_how_to_run_it() -> None:
    with pytest.raises(RuntimeError, match=r"flip\(LSTM\(3 => 4\)\) runs a whole sequence backwards.*unroll"):
        flip(LSTM(3, 4))(torch.randn(2, 3))
    with pytest.raises(RuntimeError, match=r"one step at a time \(in unroll1"):
        unroll1(flip(LSTM(3, 4)))(torch.randn(2, 3))


def test_length_mismatch_names_the_model_n_and_the_length() -> None:
    with pytest.raises(ValueError, match=r"unroll\(LSTM\(3 => 4\), 5\) .* got shape \(2, 7, 3\): 7 time steps, not n = 5"):
        unroll(LSTM(3, 4), 5)(torch.randn(2, 7, 3))
    with pytest.raises(ValueError, match=r"no time dimension"):
        unroll(LSTM(3, 4), 5)(torch.randn(3))


def test_bad_arguments_to_unroll() -> None:
    with pytest.raises(ValueError, match="positive number of steps"):
        unroll(LSTM(3, 4), 0)
    with pytest.raises(TypeError, match="unroll expected a step model"):
        unroll("LSTM", 5)
    with pytest.raises(TypeError, match="flip expected a model"):
        flip(3)


def test_errors_inside_a_chain_name_the_layer_and_the_folded_shape() -> None:
    model = unroll(Chain(LSTM(3, 4), Affine(5, 2)), 6)
    with pytest.raises(ValueError, match=r"Affine\(5 => 2\) expected input with 5 features") as info:
        model(torch.randn(2, 6, 3))
    notes = "\n".join(info.value.__notes__)
    assert "Unroll.model[1]" in notes and "(2, 6, 4) became (12, 4)" in notes


class Stacked:
    """What fluxtorch.dims' Batch / Seq look like to unroll: a ``.raw`` tensor and ``rewrap``."""

    def __init__(self, raw: Tensor) -> None:
        self.raw = raw

    def rewrap(self, raw: Tensor) -> "Stacked":
        return Stacked(raw)


def test_a_batch_of_seq_in_gives_a_batch_of_seq_out() -> None:
    xs = torch.randn(2, 4, 3)
    model = unroll(LSTM(3, 5), 4, stateful=False)
    out = model(Stacked(xs))
    assert isinstance(out, Stacked)
    torch.testing.assert_close(out.raw, model(xs))
    step = unroll1(model.model)
    assert isinstance(step(Stacked(xs[:, 0])), Stacked)


def test_raw_tensor_holders_are_unwrapped() -> None:
    class Raw:
        def __init__(self, raw: Tensor) -> None:
            self.raw = raw

    xs = torch.randn(2, 4, 3)
    model = unroll(LSTM(3, 5), 4, stateful=False)
    torch.testing.assert_close(model(Raw(xs)), model(xs))


def test_torch_save_round_trip_keeps_weights_and_carried_state(tmp_path) -> None:
    model = unroll(Chain(LSTM(3, 4), Affine(4, 2)), 5)
    xs = torch.randn(2, 5, 3)
    model(xs)
    torch.save(model, tmp_path / "m.pt")
    again = torch.load(tmp_path / "m.pt", weights_only=False)
    torch.testing.assert_close(again(xs), model(xs))
    again.reset(), model.reset()
    torch.testing.assert_close(again(xs), model(xs))


@pytest.mark.parametrize("make", [
    lambda: unroll(LSTM(3, 4), 3),
    lambda: unroll(Chain(LSTM(3, 4), Affine(4, 2), GatedRecurrent(2, 3)), 3),
    lambda: unroll(Chain(flip(Recurrent(3, 4)), relu), 3, stateful=False),
    lambda: unroll(SideBySide(LSTM(3, 4), flip(GatedRecurrent(3, 4))), 3),
    lambda: unroll(Chain(lstm := LSTM(3, 3), relu, lstm), 3),
], ids=["lstm", "chain", "flip", "template", "shared"])
def test_compiles_fullgraph_without_graph_breaks(make) -> None:
    torch._dynamo.reset()  # each model here is compiled anew, not as a recompilation of the last
    model, twin = make(), make()
    twin.load_state_dict(model.state_dict())
    xs = torch.randn(2, 3, 3)
    compiled = torch.compile(model, fullgraph=True, backend="eager")  # a graph break would raise
    for _ in range(2):  # the second call starts from the carried state
        torch.testing.assert_close(compiled(xs), twin(xs))


def test_compiled_gradients_equal_eager_ones() -> None:
    model, twin = unroll(LSTM(3, 4), 3), unroll(LSTM(3, 4), 3)
    twin.load_state_dict(model.state_dict())
    xs = torch.randn(2, 3, 3)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")  # traced through autograd
    compiled(xs).square().sum().backward()
    twin(xs).square().sum().backward()
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_unroll1_compiles_fullgraph() -> None:
    model = unroll1(Chain(LSTM(3, 4), Affine(4, 2)))
    twin = unroll1(Chain(LSTM(3, 4), Affine(4, 2)))
    twin.load_state_dict(model.state_dict())
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    x = torch.randn(2, 3)
    for _ in range(2):
        torch.testing.assert_close(compiled(x), twin(x))


def test_exports_with_torch_export() -> None:
    model = unroll(Chain(LSTM(3, 4), Affine(4, 2)), 5, stateful=False)
    xs = torch.randn(2, 5, 3)
    exported = torch.export.export(model, (xs,))
    torch.testing.assert_close(exported.module()(xs), model(xs))


def test_a_stateful_model_exports_from_its_initial_state_even_after_calls() -> None:
    model = unroll(Chain(LSTM(3, 4), Affine(4, 2)), 5)
    xs = torch.randn(2, 5, 3)
    fresh = unroll(model.model, 5, stateful=False)(xs)
    carried = model(xs)  # the model now carries a state, which an exported graph cannot hold
    exported = torch.export.export(model, (xs,))
    torch.testing.assert_close(exported.module()(xs), fresh)
    torch.testing.assert_close(exported.module()(xs), fresh)
    model.reset()
    torch.testing.assert_close(model(xs), carried)

    step = unroll1(LSTM(3, 4))
    first = step(xs[:, 0])
    step(xs[:, 1])
    torch.testing.assert_close(torch.export.export(step, (xs[:, 0],)).module()(xs[:, 0]), first)


# The attention translation model of the seed's recurrence page, as a smoke test.

@net
class Encoder:
    """Annotations: a forward and a backward LSTM read the phrase; their outputs side by side."""

    forward_: Model
    backward_: Model

    def forward(self, token):
        return torch.cat([self.forward_(token), self.backward_(token)], -1)


@net
class Decoder:
    """Attends over the annotations with its previous state, then predicts the next token."""

    attend: Model
    recur: Model
    out: Model
    state: State
    y: State

    def forward(self, annotations):                               # (B, N, A)
        query = self.state[:, None].expand(-1, annotations.shape[1], -1)
        energies = self.attend(torch.cat([query, annotations], -1))  # (B, N, 1)
        weights = torch.softmax(energies, dim=1)                    # over time
        context = (weights * annotations).sum(1)                    # (B, A)
        self.state = self.recur(torch.cat([context, self.y], -1))
        self.y = softmax(self.out(self.state))
        return self.y


def test_attention_encoder_decoder_runs_forward_and_backward() -> None:
    alphabet, phrase, half, hidden = 5, 7, 6, 10
    encoder = unroll(Encoder(LSTM(alphabet, half), flip(LSTM(alphabet, half))), phrase, stateful=False)
    decoder = Decoder(Affine(hidden + 2 * half, 1), LSTM(2 * half + alphabet, hidden), Affine(hidden, alphabet),
                      torch.zeros(hidden), torch.zeros(alphabet))
    model = Chain(encoder, unroll(decoder, phrase, seq=False, stateful=False))
    xs = torch.randn(3, phrase, alphabet)
    ys = model(xs)
    assert ys.shape == (3, phrase, alphabet)
    torch.testing.assert_close(ys.sum(-1), torch.ones(3, phrase))
    ys.log().mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert missing == []
    annotations = encoder(xs)
    forward = unroll(encoder.model.forward_, phrase)(xs)
    backward = unroll(encoder.model.backward_.model, phrase)(xs.flip(1)).flip(1)
    torch.testing.assert_close(annotations, torch.cat([forward, backward], -1))


def test_a_stateless_template_holding_recurrent_layers_needs_the_whole_sequence() -> None:
    assert isinstance(unroll(Encoder(LSTM(2, 3), flip(LSTM(2, 3))), 4), Unroll)
    with pytest.raises(RuntimeError, match=r"flip\(LSTM\(2 => 3\)\) runs a whole sequence backwards"):
        unroll1(Encoder(LSTM(2, 3), flip(LSTM(2, 3))))(torch.randn(1, 2))


@net
class SideBySide:
    """Written for one step ``(batch, features)``: dim=1 is the features, as a PyTorch user writes it."""

    forward_: Model
    backward_: Model

    def forward(self, token):
        both = torch.cat([self.forward_(token), self.backward_(token)], dim=1)
        return torch.softmax(both, dim=1)


def test_a_stateless_template_holding_recurrent_layers_sees_steps_in_its_own_operations(path: str) -> None:
    forward_, backward_ = LSTM(3, 4), GatedRecurrent(3, 4)
    xs = torch.randn(2, 5, 3)
    ys = unroll(SideBySide(forward_, flip(backward_)), 5)(xs)
    both = torch.cat([unroll(forward_, 5)(xs), unroll(backward_, 5)(xs.flip(1)).flip(1)], -1)
    torch.testing.assert_close(ys, torch.softmax(both, -1))
    step = SideBySide(forward_, backward_)
    by_step = unroll1(step)
    torch.testing.assert_close(unroll(step, 5)(xs), torch.stack([by_step(xs[:, t]) for t in range(5)], 1))


@net
class Twice:
    """One layer called twice in a step: its second call reads the state its first call wrote."""

    inner: Model

    def forward(self, x):
        return self.inner(self.inner(x))


@pytest.mark.parametrize("make", [lambda lstm: Chain(lstm, relu, lstm), Twice])
def test_a_recurrent_layer_called_twice_per_step_equals_stepping_it(make, path: str) -> None:
    step = make(LSTM(4, 4))
    xs = torch.randn(2, 6, 4)
    unrolled, by_step = unroll(step, 3), unroll1(step)
    expected = torch.stack([by_step(xs[:, t]) for t in range(6)], 1)
    torch.testing.assert_close(torch.cat([unrolled(xs[:, :3]), unrolled(xs[:, 3:])], 1), expected)
    unrolled.reset()
    unrolled(xs[:, :3]).sum().backward()
    assert all(p.grad is not None for p in step.parameters())


def test_unroll1_inside_an_unrolled_template_steps_with_it_as_in_the_seed() -> None:
    plain = Decoder(Affine(4 + 6, 1), LSTM(6 + 3, 4), Affine(4, 3), torch.zeros(4), torch.zeros(3))
    seed_style = Decoder(plain.attend, unroll1(plain.recur), plain.out, plain.state, plain.y)
    annotations = torch.randn(2, 5, 6)
    expected = unroll(plain, 4, seq=False)(annotations)
    torch.testing.assert_close(unroll(seed_style, 4, seq=False)(annotations), expected)
    assert seed_style.recur._carry is None  # the enclosing unroll carried the state


def test_a_layer_cannot_run_in_two_unrolls_at_once() -> None:
    lstm = LSTM(3, 3)
    inner = unroll(lstm, 2)

    @net
    class Nested:
        step: Model
        y: State

        def forward(self, x):
            self.y = self.step(x[:, None].expand(-1, 2, -1))[:, -1]
            return self.y

    with pytest.raises(RuntimeError, match=r"LSTM\(3 => 3\) is already running in an enclosing unroll"):
        unroll(Nested(inner, torch.zeros(3)), 2)(torch.randn(1, 2, 3))


def test_hooks_see_each_recurrent_layer_called_once_on_the_whole_sequence(path: str) -> None:
    step = Chain(LSTM(3, 4), GatedRecurrent(4, 2), Affine(2, 1))
    seen = []
    for layer in step:
        layer.register_forward_hook(lambda m, args, out: seen.append((type(m).__name__, tuple(out.shape))))
    unroll(step, 5)(torch.randn(2, 5, 3))
    assert seen == [("LSTM", (2, 5, 4)), ("GatedRecurrent", (2, 5, 2)), ("Affine", (10, 1))]


def test_functional_call_swaps_the_initial_states_too() -> None:
    model = unroll(LSTM(3, 4), 2, stateful=False)
    params = {name: p.detach().clone().requires_grad_() for name, p in model.named_parameters()}
    params["model.y"] = torch.ones(4, requires_grad=True)
    xs = torch.randn(2, 2, 3)
    torch.func.functional_call(model, params, (xs,)).sum().backward()
    assert params["model.y"].grad is not None and params["model.y"].grad.abs().sum() > 0
    assert isinstance(model.model.y, nn.Parameter) and not model.model.y.any()


def test_inference_mode_and_eval_keep_the_results() -> None:
    model = unroll(Chain(LSTM(3, 4), GatedRecurrent(4, 2)), 3, stateful=False)
    xs = torch.randn(2, 3, 3)
    expected = model(xs)
    with torch.inference_mode():
        torch.testing.assert_close(model.eval()(xs), expected)


def test_vectorised_map_over_a_batch_of_sequences() -> None:
    from fluxtorch import Batch, Seq
    from fluxtorch import map as fmap

    for cell in (Recurrent(3, 4), LSTM(3, 4)):
        model = unroll(cell, 5, stateful=False)
        xs = Batch([Seq(torch.rand(5, 3)), Seq(torch.rand(5, 3))])
        out = fmap(model, xs)
        assert isinstance(out, Batch)
        torch.testing.assert_close(out.raw, model(xs.raw), atol=1e-6, rtol=1e-5)


def test_unroll1_of_a_sequence_model_names_the_step_model_to_use() -> None:
    train_model = unroll(Chain(LSTM(5, 8), Affine(8, 3)), 4)
    with pytest.raises(TypeError, match=r"unroll1 expected a step model, got unroll\(.*whole sequences.*unroll1\(m.model\)"):
        unroll1(train_model)
    sampler = unroll1(train_model.model)
    assert sampler(torch.rand(1, 5)).shape == (1, 3)
