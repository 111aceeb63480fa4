"""torch.compile(fullgraph=True) and torch.export work on Chains, templates and unrolled recurrent models."""

from __future__ import annotations

import pytest
import torch

from fluxtorch import (
    LSTM, Affine, Chain, Conv2D, GatedRecurrent, Input, MaxPool, Model, Parallel, SkipConnection,
    concat, flatten, net, relu, softmax, unroll, σ,
)


@net
class TLP:
    first: Model
    second: Model

    def forward(self, x):
        return softmax(self.second(σ(self.first(x))))


def mlp() -> Chain:
    return Chain(Input(784), Affine(128), relu, Affine(64), relu, Affine(10), softmax)


MODELS = {
    "mlp": (mlp, (5, 784)),
    "conv": (lambda: Chain(Input(1, 28, 28), Conv2D(8, 3), relu, MaxPool(2), flatten, Affine(10)), (2, 1, 28, 28)),
    "affine": (lambda: Affine(10, 5), (3, 10)),
    "tlp": (lambda: TLP(Affine(10, 20), Affine(20, 15)), (4, 10)),
    "named": (lambda: Chain(encoder=Affine(6, 3), act=torch.tanh, decoder=Affine(3, 6)), (2, 6)),
    "combinators": (lambda: Chain(SkipConnection(Affine(4, 4), torch.add), Parallel(concat, Affine(4, 2), Affine(4, 3))), (3, 4)),
    "unrolled": (lambda: unroll(Chain(LSTM(3, 8), GatedRecurrent(8, 8), Affine(8, 2)), 6, stateful=False), (2, 6, 3)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_compiles_with_no_graph_breaks(name: str) -> None:
    torch._dynamo.reset()
    build, shape = MODELS[name]
    model, x = build(), torch.randn(shape)
    compiled = torch.compile(model, fullgraph=True, backend="eager")  # a graph break would raise
    assert torch.allclose(compiled(x), model(x), atol=1e-6)


@pytest.mark.parametrize("name", list(MODELS))
def test_exports_with_torch_export(name: str) -> None:
    build, shape = MODELS[name]
    model, x = build(), torch.randn(shape)
    program = torch.export.export(model, (x,))
    assert torch.allclose(program.module()(x), model(x), atol=1e-6)


def test_export_with_a_dynamic_batch() -> None:
    model = mlp()
    program = torch.export.export(model, (torch.randn(4, 784),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    x = torch.randn(9, 784)
    assert torch.allclose(program.module()(x), model(x), atol=1e-6)


def test_compiled_training_step_matches_eager_gradients() -> None:
    torch._dynamo.reset()
    model = TLP(Affine(10, 20), Affine(20, 15))
    x = torch.randn(4, 10)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    compiled(x).square().sum().backward()
    compiled_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model(x).square().sum().backward()
    for ours, reference in zip(compiled_grads, (p.grad for p in model.parameters())):
        assert torch.allclose(ours, reference, atol=1e-6)


def test_inductor_compiles_the_mnist_mlp() -> None:
    torch._dynamo.reset()
    model = mlp()
    x = torch.randn(8, 784)
    compiled = torch.compile(model, fullgraph=True)
    assert torch.allclose(compiled(x), model(x), atol=1e-5)


def test_stateful_unrolled_model_compiles_and_carries_its_state() -> None:
    torch._dynamo.reset()
    model = unroll(Chain(LSTM(3, 8), Affine(8, 2)), 6)
    reference = unroll(model.model, 6)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    for x in (torch.randn(2, 6, 3), torch.randn(2, 6, 3)):  # the second call starts from the carried state
        assert torch.allclose(compiled(x), reference(x), atol=1e-6)
