"""net(fn): anonymous models whose parameters are the ones the function refers to."""

import types

import pytest
import torch
from torch import nn

from fluxtorch import Affine, Chain, net, relu
from fluxtorch._anonymous import AnonymousNet

W_GLOBAL = torch.randn(3, 2, requires_grad=True)
B_GLOBAL = nn.Parameter(torch.zeros(2))
CONSTANT = torch.ones(2)  # no grad: a constant, not a parameter


def affine_global(x):
    return x @ W_GLOBAL + B_GLOBAL


def test_seed_example_trains_the_referenced_layer() -> None:
    torch.manual_seed(0)
    d = Affine(5, 3)
    d1 = net(lambda x: x @ d.W + d.b)
    assert isinstance(d1, nn.Module) and isinstance(d1, AnonymousNet)
    assert dict(d1.named_parameters()) == {"d.W": d.W, "d.b": d.b}
    x = torch.randn(4, 5)
    torch.testing.assert_close(d1(x), x @ d.W + d.b)
    before = d.W.detach().clone()
    opt = torch.optim.SGD(d1.parameters(), lr=0.1)
    d1(x).sum().backward()
    opt.step()
    torch.testing.assert_close(d.W, before - 0.1 * x.sum(0)[:, None].expand(5, 3))


def test_globals_closures_and_defaults_are_found() -> None:
    m = net(lambda x: relu(x @ W_GLOBAL + B_GLOBAL) * CONSTANT)
    assert list(dict(m.named_parameters())) == ["W_GLOBAL", "B_GLOBAL"]
    assert m.W_GLOBAL is W_GLOBAL  # the very tensor the function reads, not a copy

    def make():
        W = torch.randn(2, 2, requires_grad=True)
        return net(lambda x: x @ W), W

    closed, W = make()
    assert list(closed.parameters()) == [W]
    layer = Affine(2, 2)
    defaulted = net(lambda x, layer=layer: layer(x))
    assert list(defaulted.state_dict()) == ["layer.W", "layer.b"]


def test_attribute_chains_containers_and_helpers() -> None:
    ns = types.SimpleNamespace(enc=Affine(3, 3), W=torch.randn(3, 2, requires_grad=True))
    m = net(lambda x: ns.enc(x) @ ns.W)
    assert sorted(m.state_dict()) == ["ns.W", "ns.enc.W", "ns.enc.b"]
    ws = [torch.randn(3, 3, requires_grad=True) for _ in range(2)]
    chained = net(lambda x: x @ ws[0] @ ws[1])
    assert list(chained.state_dict()) == ["ws.0", "ws.1"]
    helper = net(lambda x: affine_global(x) * 2)  # a helper function's own parameters count too
    assert list(helper.state_dict()) == ["W_GLOBAL", "B_GLOBAL"]


def test_bound_methods_and_plain_functions() -> None:
    d = Affine(2, 2)
    assert list(net(d.forward).state_dict()) == ["self.W", "self.b"]
    e = net(torch.exp)
    assert list(e.parameters()) == [] and torch.equal(e([0.0, 0.0]), torch.ones(2))
    assert repr(e) == "net(exp)"


def test_repr_and_use_inside_chains() -> None:
    d = Affine(5, 3)
    d1 = net(lambda x: x @ d.W + d.b)
    assert repr(d1) == "net(<lambda>)  # 18 parameters"
    chain = Chain(d1, relu)
    assert repr(chain) == "Chain(net(<lambda>), relu)  # 18 parameters"
    assert chain(torch.randn(2, 5)).shape == (2, 3)


def test_adam_training_reduces_the_loss() -> None:
    torch.manual_seed(0)
    W1 = nn.Parameter(torch.randn(2, 16) * 0.5)
    hidden = Affine(16, 1)
    model = net(lambda x: hidden(torch.tanh(x @ W1)))
    assert len(list(model.parameters())) == 3
    x = torch.randn(64, 2)
    y = (x[:, :1] * x[:, 1:]).tanh()
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    first = torch.nn.functional.mse_loss(model(x), y).item()
    for _ in range(150):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < first / 3


def test_moving_and_loading_act_on_the_referenced_tensors() -> None:
    W = torch.randn(2, 2, requires_grad=True)
    m = net(lambda x: x @ W)
    m.to(torch.float64)
    assert W.dtype == torch.float64 and m.W is W
    m.load_state_dict({"W": torch.eye(2, dtype=torch.float64)})
    assert torch.equal(W, torch.eye(2, dtype=torch.float64))


def test_errors() -> None:
    with pytest.raises(TypeError, match=r"net takes a class.*or a function.*got str"):
        net("x @ W")
    derived = torch.randn(2, 2, requires_grad=True) * 0.1
    with pytest.raises(ValueError, match=r"net\(<lambda>\) uses derived, a tensor that requires grad but is computed.*Fix"):
        net(lambda x: x @ derived)
    d = Affine(3, 2)
    m = net(lambda x: d(x))
    with pytest.raises(ValueError) as info:
        m(torch.randn(4, 5))
    assert "AnonymousNet.d, an Affine(3 => 2), given input of shape (4, 5)" in info.value.__notes__[0]


def test_compiles_fullgraph_inside_a_chain() -> None:
    d = Affine(4, 4)
    m = Chain(Affine(3, 4), net(lambda x: torch.tanh(x @ d.W + d.b)), relu)
    x = torch.randn(2, 3)
    compiled = torch.compile(m, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x), m(x))


def test_batch_in_gives_batch_out() -> None:
    from fluxtorch import Batch

    d = Affine(3, 2)
    model = net(lambda x: x @ d.W + d.b)
    out = model(Batch([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    assert isinstance(out, Batch) and len(out) == 2
    torch.testing.assert_close(out.raw, d(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])))
