"""Chain: the seed's examples, indexing, registration, repr, training and errors."""

import math
import pickle

import pytest
import torch
from torch import nn

from fluxtorch import Affine, Chain, Conv2D, Input, MaxPool, flatten, relu, softmax, σ


def test_seed_chain_equals_hand_written_composition() -> None:
    affine1, affine2 = Affine(5, 5), Affine(5, 5)
    x1 = torch.rand(5)
    mymodel1 = lambda x: softmax(affine2(σ(affine1(x))))  # noqa: E731
    mymodel2 = Chain(affine1, σ, affine2, softmax)
    assert torch.equal(mymodel2(x1), mymodel1(x1))
    assert torch.equal(mymodel2(x1), torch.softmax(torch.sigmoid(x1 @ affine1.W + affine1.b) @ affine2.W + affine2.b, -1))
    mymodel3 = Chain(Affine(5, 5), σ, Affine(5, 5), softmax)
    assert mymodel3(x1).shape == (5,) and math.isclose(mymodel3(x1).sum().item(), 1.0, rel_tol=1e-6)


def test_plain_functions_are_models() -> None:
    foo = Chain(torch.exp, torch.sum, torch.log)
    assert math.isclose(foo([1, 2, 3]).item(), 3.408, abs_tol=5e-4)
    assert math.isclose(foo([1, 2, 3]).item(), math.log(sum(math.exp(v) for v in (1, 2, 3))), rel_tol=1e-6)
    assert Chain(lambda x: x * 2, torch.neg)(torch.ones(2)).tolist() == [-2.0, -2.0]


def test_indexing_slicing_len_iteration_append() -> None:
    a, b = Affine(3, 4), Affine(4, 2)
    m = Chain(a, relu, b)
    assert m[0] is a and m[1] is relu and m[-1] is b and len(m) == 3 and list(m) == [a, relu, b]
    head = m[:-1]
    assert isinstance(head, Chain) and head[0] is a and len(head) == 2
    assert m[1:][1] is b
    m.append(softmax)
    assert len(m) == 4 and m[3] is softmax
    x = torch.randn(2, 3)
    torch.testing.assert_close(m(x), softmax(b(relu(a(x)))))


def test_parameters_state_dict_and_sequential_naming() -> None:
    m = Chain(Affine(5, 5), σ, Affine(5, 5), softmax)
    assert list(m.state_dict()) == ["0.W", "0.b", "2.W", "2.b"]
    assert len(list(m.parameters())) == 4
    seq = nn.Sequential(nn.Linear(5, 5), nn.Sigmoid(), nn.Linear(5, 5))
    assert [k.split(".")[0] for k in m.state_dict()] == [k.split(".")[0] for k in seq.state_dict()][:4]
    fresh = Chain(Affine(5, 5), σ, Affine(5, 5), softmax)
    fresh.load_state_dict(m.state_dict())
    x = torch.rand(3, 5)
    assert torch.equal(fresh(x), m(x))


def test_named_layers() -> None:
    m = Chain(encoder=Affine(10, 5), decoder=Affine(5, 10))
    assert m.encoder is m["encoder"] is m[0]
    assert list(m.state_dict()) == ["encoder.W", "encoder.b", "decoder.W", "decoder.b"]
    assert m(torch.randn(2, 10)).shape == (2, 10)
    assert repr(m).startswith("Chain(encoder = Affine(10 => 5), decoder = Affine(5 => 10))")
    with pytest.raises(KeyError, match="no layer named 'middle'"):
        m["middle"]


def test_repr_reads_like_code_with_parameter_count() -> None:
    m = Chain(Affine(5, 5), σ, Affine(5, 5), softmax)
    assert repr(m) == "Chain(Affine(5 => 5), σ, Affine(5 => 5), softmax)  # 60 parameters"
    assert repr(Chain(torch.exp, torch.sum)) == "Chain(exp, sum)"
    mlp = Chain(Input(784), Affine(128), relu, Affine(64), relu, Affine(10), softmax)
    assert "Affine(784 => 128)" in repr(mlp) and "109_386 parameters" in repr(mlp)


def test_any_module_inside_and_chain_inside_sequential() -> None:
    m = Chain(nn.Linear(4, 3), nn.ReLU(), Affine(3, 2))
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.W", "2.b"]
    outer = nn.Sequential(m, nn.Tanh())
    assert outer(torch.randn(5, 4)).shape == (5, 2)
    assert len(list(outer.parameters())) == 4


def test_to_moves_parameters_and_keeps_layers_in_sync() -> None:
    m = Chain(Affine(3, 2), relu).to(torch.float64)
    assert m[0].W.dtype == torch.float64
    assert m(torch.randn(4, 3, dtype=torch.float64)).dtype == torch.float64


def test_trains_with_adam_until_loss_drops_20x() -> None:
    torch.manual_seed(0)
    x = torch.rand(256, 2) * 2 - 1
    y = x[:, :1] * 2 - x[:, 1:] + 0.5 * x[:, :1] * x[:, 1:]
    m = Chain(Input(2), Affine(16), relu, Affine(1))
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    first = nn.functional.mse_loss(m(x), y).item()
    for _ in range(300):
        loss = nn.functional.mse_loss(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 20


def test_gradcheck_float64() -> None:
    m = Chain(Affine(3, 4), torch.tanh, Affine(4, 2), softmax).double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))
    params = tuple(m.parameters())
    assert torch.autograd.gradcheck(lambda *ps: Chain(Affine(ps[0], ps[1]), torch.tanh, Affine(ps[2], ps[3]))(x), params)


def test_compiles_fullgraph_without_graph_breaks() -> None:
    m = Chain(Input(8), Affine(16), relu, Affine(4), softmax)
    x = torch.randn(3, 8)
    explanation = torch._dynamo.explain(m)(x)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1
    compiled = torch.compile(m, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x), m(x))


def test_torch_save_round_trip(tmp_path) -> None:
    m = Chain(Affine(3, 2), σ, softmax)
    torch.save(m, tmp_path / "m.pt")
    again = torch.load(tmp_path / "m.pt", weights_only=False)
    x = torch.randn(4, 3)
    assert torch.equal(again(x), m(x))
    assert pickle.loads(pickle.dumps(m))[1] is torch.sigmoid


def test_non_callable_layer_is_a_type_error_naming_position() -> None:
    with pytest.raises(TypeError, match=r"Chain layer 1 must be callable.*got Tensor"):
        Chain(Affine(2, 2), torch.ones(2))


def test_string_input_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"Chain expected a tensor.*got str"):
        Chain(Affine(2, 2))("hello")


def test_error_inside_is_located_with_position_and_shape() -> None:
    m = Chain(Affine(4, 3), relu, Affine(2, 1))
    with pytest.raises(ValueError, match="expected input with 2 features") as info:
        m(torch.randn(5, 4))
    note = "\n".join(info.value.__notes__)
    assert "Chain[2]" in note and "Affine(2 => 1)" in note and "(5, 3)" in note


def test_taken_name_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot name a layer 'forward'"):
        Chain(forward=Affine(2, 2))


def test_input_inference_through_batch_norm() -> None:
    m = Chain(Input(10), Affine(3), nn.BatchNorm1d(3), relu)
    assert m[1].W.shape == (10, 3)
    assert int(m[2].num_batches_tracked) == 0 and m[2].training  # fake data leaves the statistics alone
    m(torch.randn(4, 10))
    assert int(m[2].num_batches_tracked) == 1 and torch.isfinite(m[2].running_mean).all()


def test_input_inference_through_a_layer_that_looks_at_values() -> None:
    model = Chain(Input(3), Affine(4), lambda x: x / x.abs().max().item(), Affine(2))  # .item(): no fake run
    assert model[3].W.shape == (4, 2) and not model[3].W.is_meta
    torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(5, 3)
    h = x @ model[1].W + model[1].b
    torch.testing.assert_close(model(x), (h / h.abs().max()) @ model[3].W + model[3].b)


def test_one_image_after_input_runs_as_a_batch_of_one_and_comes_back_as_one() -> None:
    cnn = Chain(Input(1, 8, 8), Conv2D(2, 3), relu, MaxPool(2), flatten, Affine(3))
    image = torch.rand(1, 8, 8)
    assert cnn(image).shape == (3,)
    torch.testing.assert_close(cnn(image), cnn(image[None])[0])
    with pytest.raises(ValueError, match=r"expected data points of shape \(1, 8, 8\), got a tensor of shape \(2, 8, 8\)"):
        cnn(torch.rand(2, 8, 8))


def test_an_index_out_of_range_says_how_many_layers_there_are() -> None:
    m = Chain(Affine(3, 4), relu)
    assert m[-2] is m[0] and m[1] is relu
    with pytest.raises(IndexError, match=r"Chain index 5 is out of range: it has 2 layers, m\[0\] to m\[1\]"):
        m[5]
    assert list(m) == [m[0], relu]  # iteration still stops at the end


def test_an_image_input_chain_exports_with_a_dynamic_batch() -> None:
    cnn = Chain(Input(1, 8, 8), Conv2D(2, 3), relu, MaxPool(2), flatten, Affine(3))
    batch = torch.export.Dim("batch")
    program = torch.export.export(cnn, (torch.rand(2, 1, 8, 8),), dynamic_shapes=({0: batch},))
    x = torch.rand(5, 1, 8, 8)
    torch.testing.assert_close(program.module()(x), cnn(x))
