"""SkipConnection, Parallel and concat: against hand-written torch maths, gradcheck, inference, compile."""

import operator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fluxtorch import Affine, Chain, Input, Parallel, SkipConnection, concat, relu, σ


def test_skip_connection_is_combine_of_layer_output_and_input() -> None:
    layer = Affine(5, 5)
    x = torch.randn(3, 5)
    reference = x @ layer.W + layer.b + x
    torch.testing.assert_close(SkipConnection(layer, torch.add)(x), reference)
    torch.testing.assert_close(SkipConnection(layer, operator.add)(x), reference)
    widened = SkipConnection(layer, concat)(x)
    torch.testing.assert_close(widened, torch.cat([x @ layer.W + layer.b, x], dim=1))
    assert SkipConnection(layer, torch.add)(x[0]).shape == (5,)  # a single data point stays 1-D


def test_parallel_is_combine_of_every_layer_on_the_same_input() -> None:
    a, b = Affine(4, 2), Affine(4, 3)
    x = torch.randn(6, 4)
    reference = torch.cat([x @ a.W + a.b, x @ b.W + b.b], dim=-1)
    torch.testing.assert_close(Parallel(concat, a, b)(x), reference)
    torch.testing.assert_close(Parallel(lambda *ys: torch.cat(ys, -1), a, b)(x), reference)
    c = Affine(4, 4)
    torch.testing.assert_close(Parallel(operator.add, c, σ)(x), x @ c.W + c.b + torch.sigmoid(x))
    assert Parallel(concat, a)(x[0]).shape == (2,)  # a single data point stays 1-D


def test_parallel_given_one_input_per_layer_pairs_them() -> None:
    a, b = Affine(2, 3), Affine(5, 3)
    x, y = torch.randn(4, 2), torch.randn(4, 5)
    torch.testing.assert_close(Parallel(torch.add, a, b)(x, y), a(x) + b(y))
    with pytest.raises(ValueError, match=r"Parallel.*2 layers but was given 3 inputs"):
        Parallel(torch.add, a, b)(x, y, y)


def test_reprs_are_compact() -> None:
    assert repr(SkipConnection(Affine(4, 4), torch.add)) == "SkipConnection(Affine(4 => 4), add)"
    assert repr(Parallel(concat, Affine(4, 2), Affine(4, 3))) == "Parallel(concat, Affine(4 => 2), Affine(4 => 3))"
    m = Chain(Input(4), Parallel(concat, Affine(2), Affine(3)), Affine(1))
    assert repr(m) == "Chain(Input(4), Parallel(concat, Affine(4 => 2), Affine(4 => 3)), Affine(5 => 1))  # 31 parameters"
    inner = Parallel(concat, Chain(Affine(2, 2), relu), SkipConnection(Chain(Affine(2, 2)), torch.add))
    assert "#" not in repr(inner)  # nested containers print without their parameter-count comment


def test_state_dict_keys_and_registration() -> None:
    p = Parallel(concat, Affine(4, 2), relu, Affine(4, 3))
    assert list(p.state_dict()) == ["layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b"]
    assert p.layers[1] is relu and len(list(p.parameters())) == 4
    s = SkipConnection(Affine(3, 3), torch.add)
    assert list(s.state_dict()) == ["layer.W", "layer.b"]
    fresh = Parallel(concat, Affine(4, 2), relu, Affine(4, 3))
    fresh.load_state_dict(p.state_dict())
    x = torch.randn(2, 4)
    assert torch.equal(fresh(x), p(x))


def test_sizes_are_inferred_at_construction_inside_a_chain() -> None:
    skip = Chain(Input(4), SkipConnection(Affine(4), torch.add))
    assert skip[1].layer.W.shape == (4, 4) and skip[1].inferred
    par = Chain(Input(4), Parallel(concat, Affine(2), Affine(3)), Affine(1))
    assert [tuple(p.shape) for p in par.parameters()] == [(4, 2), (2,), (4, 3), (3,), (5, 1), (1,)]
    torch.optim.Adam(par.parameters())  # everything real: an optimizer can be built at once
    x = torch.randn(7, 4)
    a, b, c = par[1].layers[0], par[1].layers[1], par[2]
    torch.testing.assert_close(par(x), torch.cat([a(x), b(x)], -1) @ c.W + c.b)


def test_sizes_are_inferred_at_first_call_without_input() -> None:
    m = Chain(Parallel(concat, Affine(2), Affine(3)), SkipConnection(Affine(5), torch.add))
    assert not m[0].inferred and "?" in repr(m)
    assert m(torch.randn(3, 6)).shape == (3, 5)
    assert repr(m).startswith("Chain(Parallel(concat, Affine(6 => 2), Affine(6 => 3)), SkipConnection(Affine(5 => 5), add))")


def test_gradcheck_float64() -> None:
    torch.manual_seed(0)
    skip = SkipConnection(Chain(Affine(3, 3), torch.tanh), torch.add).double()
    par = Parallel(concat, Affine(3, 2), Chain(Affine(3, 2), σ)).double()
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(skip, (x,))
    assert torch.autograd.gradcheck(par, (x,))
    W = par.layers[0].W
    assert torch.autograd.gradcheck(lambda w: torch.cat([x @ w + par.layers[0].b, par.layers[1](x)], -1), (W,))


def test_errors_name_the_layer_and_the_fix() -> None:
    with pytest.raises(ValueError, match=r"Parallel needs at least one layer.*Fix"):
        Parallel(concat)
    with pytest.raises(TypeError, match=r"Parallel layer 1 must be callable.*got int"):
        Parallel(concat, Affine(2, 2), 3)
    with pytest.raises(TypeError, match=r"SkipConnection\.combine is a Model field.*callable.*got str"):
        SkipConnection(Affine(2, 2), "add")
    with pytest.raises(ValueError) as info:
        Chain(Input(4), Parallel(concat, Affine(4, 2), Affine(3, 3)))
    assert "Chain[1].layers[1], an Affine(3 => 3)" in info.value.__notes__[0]


def test_compiles_fullgraph_without_graph_breaks() -> None:
    m = Chain(Input(4), SkipConnection(Affine(4), torch.add), relu, Parallel(concat, Affine(2), Affine(3)), Affine(1))
    x = torch.randn(3, 4)
    explanation = torch._dynamo.explain(m)(x)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1
    compiled = torch.compile(m, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x), m(x))


def test_torch_save_round_trip(tmp_path) -> None:
    m = Chain(Affine(3, 4), SkipConnection(Affine(4, 4), torch.add), Parallel(concat, Affine(4, 1), relu))
    torch.save(m, tmp_path / "m.pt")
    again = torch.load(tmp_path / "m.pt", weights_only=False)
    x = torch.randn(2, 3)
    assert torch.equal(again(x), m(x)) and repr(again) == repr(m)


@settings(max_examples=25, deadline=None)
@given(
    widths=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    batch=st.integers(1, 4),
    features=st.integers(1, 5),
)
def test_parallel_concat_output_width_is_the_sum_of_the_branch_widths(widths, batch, features) -> None:
    p = Parallel(concat, *(Affine(features, w) for w in widths))
    assert p(torch.randn(batch, features)).shape == (batch, sum(widths))
    assert p(torch.randn(features)).shape == (sum(widths),)
    inferred = Chain(Input(features), Parallel(concat, *(Affine(w) for w in widths)))
    assert inferred(torch.randn(batch, features)).shape == (batch, sum(widths))


def test_torch_cat_as_combine_joins_the_outputs_along_the_features() -> None:
    a, b = Affine(4, 2), Affine(4, 3)
    x = torch.randn(6, 4)
    reference = torch.cat([x @ a.W + a.b, x @ b.W + b.b], dim=-1)
    torch.testing.assert_close(Parallel(torch.cat, a, b)(x), reference)
    torch.testing.assert_close(Parallel(torch.concat, a, b)(x), reference)
    torch.testing.assert_close(SkipConnection(a, torch.cat)(x), torch.cat([x @ a.W + a.b, x], dim=-1))
    assert Parallel(torch.cat, a, b)(x[0]).shape == (5,)  # a single data point joins its features too
