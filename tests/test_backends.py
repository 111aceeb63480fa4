"""gpu/cpu for models and nested data; onnx() gives ONNX Runtime models with PyTorch's answers."""

from __future__ import annotations

import logging
from collections import OrderedDict, namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch

import fluxtorch
from fluxtorch import Affine, Chain, Input, OnnxModel, cpu, gpu, onnx, relu, softmax
from fluxtorch.backend import _device

Pair = namedtuple("Pair", "x y")
from seed_models import TLP, mlp, convnet


class Carrier:
    """A data type with its own ``.to(device)``, as Batch and Seq have."""

    def __init__(self, raw: torch.Tensor) -> None:
        self.raw = raw

    def to(self, device):
        return Carrier(self.raw.to(device))


# gpu / cpu -----------------------------------------------------------------------------------------

def test_cpu_moves_nested_data_keeping_container_types() -> None:
    data = (torch.ones(2), [torch.zeros(1), 3], {"a": torch.ones(1)}, Pair(torch.ones(1), "s"),
            OrderedDict(b=torch.ones(1)), Carrier(torch.ones(2)), np.ones(2), None)
    moved = cpu(data)
    assert type(moved) is tuple and type(moved[1]) is list and moved[1][1] == 3
    assert type(moved[3]) is Pair and moved[3].y == "s"
    assert type(moved[4]) is OrderedDict
    assert isinstance(moved[5], Carrier) and moved[5].raw.device.type == "cpu"
    assert isinstance(moved[6], np.ndarray) and moved[7] is None
    model = Chain(Affine(3, 2), relu)
    assert cpu(model) is model


def test_cpu_moves_batches_and_sequences() -> None:
    xs = fluxtorch.Batch([fluxtorch.Seq([[1.0, 2.0], [3.0, 4.0]]), fluxtorch.Seq([[5.0, 6.0], [7.0, 8.0]])])
    moved = cpu((xs, [fluxtorch.Seq([[1.0]])]))
    assert type(moved[0]) is fluxtorch.Batch and type(moved[1][0]) is fluxtorch.Seq
    assert torch.equal(fluxtorch.rawbatch(moved[0]), fluxtorch.rawbatch(xs))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without CUDA")
def test_gpu_without_cuda_returns_its_input_and_says_so_once(caplog, monkeypatch) -> None:
    monkeypatch.setattr(_device, "_said_no_cuda", False)
    model, x = Chain(Affine(3, 2)), torch.ones(4, 3)
    with caplog.at_level(logging.WARNING, logger="fluxtorch"):
        assert gpu(model) is model
        assert gpu(x) is x
    messages = [r.getMessage() for r in caplog.records if r.name == "fluxtorch"]
    assert len(messages) == 1 and "no CUDA device" in messages[0] and ".to('cuda')" in messages[0]


@pytest.mark.cuda
def test_gpu_moves_models_and_nested_data() -> None:
    model = gpu(mlp())
    assert all(p.is_cuda for p in model.parameters())
    x, (y, batch) = gpu((torch.rand(5, 784), [torch.rand(5, 10), Carrier(torch.ones(3))]))
    assert x.is_cuda and y.is_cuda and batch.raw.is_cuda
    xs = gpu(fluxtorch.Batch([fluxtorch.Seq([[1.0, 2.0]]), fluxtorch.Seq([[3.0, 4.0]])]))
    assert type(xs) is fluxtorch.Batch and fluxtorch.rawbatch(xs).is_cuda
    assert gpu(np.ones((2, 3))).is_cuda
    out = model(x)
    assert out.is_cuda
    assert torch.allclose(cpu(out), cpu(model)(cpu(x)), atol=1e-5)
    assert not next(cpu(model).parameters()).is_cuda


@pytest.mark.cuda
def test_compiled_model_runs_on_gpu() -> None:
    model = gpu(Chain(Input(4), Affine(3), relu, Affine(2)))
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    x = gpu(torch.rand(2, 4))
    assert torch.equal(compiled(x), model(x))


# onnx --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist_mlp() -> tuple[Chain, OnnxModel]:
    torch.manual_seed(0)
    model = mlp()
    return model, onnx(model, torch.rand(3, 784))


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (a - b).abs().max().item() <= 1e-5


def test_onnx_mlp_matches_pytorch_for_any_batch_size(mnist_mlp) -> None:
    model, runtime = mnist_mlp
    for n in (1, 3, 17):
        x = torch.rand(n, 784)
        y = runtime(x)
        assert isinstance(y, torch.Tensor) and y.shape == (n, 10)
        assert close(y, model(x))
    assert repr(runtime).startswith("OnnxModel(Chain(Input(784), Affine(784 => 128)")


def test_onnx_takes_lists_arrays_and_single_points(mnist_mlp) -> None:
    model, runtime = mnist_mlp
    x = np.random.default_rng(0).random((2, 784))
    assert close(runtime(x), model(torch.tensor(x, dtype=torch.float32)))
    assert close(runtime(x.tolist()), runtime(x))
    point = torch.rand(784)
    assert runtime(point).shape == (10,) and close(runtime(point), model(point))


def test_onnx_checks_shapes_and_dtypes(mnist_mlp) -> None:
    _, runtime = mnist_mlp
    with pytest.raises(ValueError, match=r"expected input 0 of shape \(batch, 784\), got \(2, 100\)"):
        runtime(torch.rand(2, 100))
    with pytest.raises(TypeError, match="dtype float32, got float64.*x.to"):
        runtime(torch.rand(2, 784, dtype=torch.float64))


def test_onnx_conv_chain_and_file(tmp_path: Path) -> None:
    import onnx as onnx_lib

    model = convnet()
    runtime = onnx(model, torch.rand(2, 1, 28, 28), tmp_path / "conv.onnx")
    x = torch.rand(5, 1, 28, 28)
    assert close(runtime(x), model(x))
    onnx_lib.checker.check_model(onnx_lib.load(tmp_path / "conv.onnx"))
    assert (tmp_path / "conv.onnx").read_bytes() == runtime.onnx_bytes


def test_onnx_template_in_training_mode_stays_in_training_mode() -> None:
    model = TLP(Affine(10, 20), Affine(20, 15))
    runtime = onnx(model, torch.rand(4, 10))
    x = torch.rand(6, 10)
    assert close(runtime(x), model(x))
    assert model.training and model.first.training


def data_dependent(x):
    return x if x.sum() > 0 else -x


def test_onnx_names_the_layer_that_cannot_export() -> None:
    model = Chain(Affine(4, 3), TLP(Affine(3, 3), Chain(Affine(3, 3), data_dependent)), softmax)
    where = r"onnx cannot export Chain\[1\]\.second\[1\], data_dependent: .*data-dependent.*Fix"
    with pytest.raises(fluxtorch.ExportError, match=where) as info:
        onnx(model, torch.rand(2, 4))
    assert isinstance(info.value, TypeError) and isinstance(info.value, RuntimeError)


def test_onnx_unrolled_recurrent_model_starts_each_call_afresh() -> None:
    model = fluxtorch.unroll(Chain(fluxtorch.Recurrent(3, 4), Affine(4, 2)), 3)
    x, carried = torch.rand(5, 3, 3), torch.rand(5, 3, 3)
    model(carried)  # the model now carries a state, which export must neither bake in nor change
    after_carried = model(x)
    model.reset()
    model(carried)
    runtime = onnx(model, torch.rand(2, 3, 3))
    assert model.stateful and torch.equal(model(x), after_carried)
    stateless = fluxtorch.unroll(model.model, 3, stateful=False)
    assert close(runtime(x), stateless(x))


# Native integration both ways ---------------------------------------------------------------------

def test_fluxtorch_models_drop_into_pytorch_code() -> None:
    model = torch.nn.Sequential(Affine(3, 4), torch.nn.ReLU(), Chain(Affine(4, 2), softmax))
    assert [k for k, _ in model.named_parameters()] == ["0.W", "0.b", "2.0.W", "2.0.b"]
    x = torch.rand(5, 3)
    params = {k: torch.zeros_like(v) for k, v in model.named_parameters()}
    assert torch.allclose(torch.func.functional_call(model, params, (x,)), torch.full((5, 2), 0.5))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model[0].W.detach().clone()
    model(x)[:, 0].sum().backward()
    optimizer.step()
    assert not torch.equal(model[0].W, before)


def test_torch_modules_drop_into_chains_and_templates() -> None:
    linear, norm = torch.nn.Linear(3, 4), torch.nn.LayerNorm(4)
    model = TLP(Chain(linear, norm), torch.nn.Linear(4, 2))
    assert {id(p) for p in model.parameters()} >= {id(linear.weight), id(norm.bias)}
    x = torch.rand(5, 3)
    expected = torch.softmax(model.second(torch.sigmoid(norm(linear(x)))), dim=-1)
    assert torch.equal(model(x), expected)
    model(x).sum().backward()
    assert linear.weight.grad is not None


def test_onnx_from_one_data_point_as_in_flux() -> None:
    model = Chain(Affine(10, 5), relu, Affine(5, 2))
    runtime = onnx(model, torch.rand(10))  # Flux's mxnet(model)(rand(10)), with batches too
    x = torch.rand(10)
    assert runtime(x).shape == (2,) and close(runtime(x), model(x))
    xs = torch.rand(4, 10)
    assert close(runtime(xs), model(xs))
    summed = onnx(Chain(torch.exp, torch.sum, torch.log), torch.tensor([1.0, 2.0, 3.0]))  # not batch-aware
    assert close(summed([1, 2, 3]), torch.tensor(3.4076059644))


def test_onnx_model_given_a_batch_gives_a_batch_as_the_model_does() -> None:
    model = Chain(Affine(3, 4), relu, Affine(4, 2))
    runtime = onnx(model, torch.rand(2, 3))
    xs = fluxtorch.Batch([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]])
    ys = runtime(xs)
    assert isinstance(ys, fluxtorch.Batch) and ys.shape == (3, 2)
    assert close(ys.raw, model(xs).raw)


def test_onnx_from_one_image_exports_for_batches_of_images() -> None:
    cnn = Chain(Input(1, 8, 8), fluxtorch.Conv2D(2, 3), relu, fluxtorch.MaxPool(2), fluxtorch.flatten, Affine(3))
    runtime = onnx(cnn, torch.rand(1, 8, 8))  # one image, as Input(1, 8, 8) declares it
    image, images = torch.rand(1, 8, 8), torch.rand(5, 1, 8, 8)
    assert runtime(image).shape == (3,) and close(runtime(image), cnn(image))
    assert close(runtime(images), cnn(images))
