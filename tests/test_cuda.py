"""Every capability on a CUDA device, checked against the same model on the CPU.

All tests here are marked ``cuda``: conftest.py skips them where no GPU is present, and
``make gpu-check`` runs them (``pytest -m cuda``).  Names from features not merged yet
are looked up when a test runs, so this file collects cleanly everywhere.
"""

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import fluxtorch
from fluxtorch import Affine, Chain, Input, relu, softmax

pytestmark = pytest.mark.cuda


def feature(name: str):
    """``fluxtorch.<name>``, or skip the test when that feature is not in this build."""
    found = getattr(fluxtorch, name, None)
    if found is None:
        pytest.skip(f"fluxtorch.{name} not available")
    return found


def mlp() -> Chain:
    torch.manual_seed(0)
    return Chain(Input(20), Affine(32), relu, Affine(16), relu, Affine(5), softmax)


def test_model_to_cuda_moves_every_parameter_and_computes_what_the_cpu_computes() -> None:
    model, x = mlp(), torch.randn(8, 20)
    expected = model(x)
    model.to("cuda")
    assert {p.device.type for p in model.parameters()} == {"cuda"}
    got = model(x.cuda())
    assert got.device.type == "cuda"
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-4, atol=1e-5)


def test_affine_on_cuda_matches_cpu_and_nn_linear() -> None:
    torch.manual_seed(1)
    layer, x = Affine(64, 48), torch.randn(16, 64)
    expected = layer(x)
    linear = nn.Linear(64, 48)
    with torch.no_grad():
        linear.weight.copy_(layer.W.T), linear.bias.copy_(layer.b)
    layer.cuda(), linear.cuda()
    torch.testing.assert_close(layer(x.cuda()).cpu(), expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(layer(x.cuda()), linear(x.cuda()), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(layer(x[0].cuda()).cpu(), expected[0], rtol=1e-4, atol=1e-4)  # one data point


def test_affine_names_the_device_mismatch() -> None:
    layer = Affine(3, 2).cuda()
    with pytest.raises((TypeError, RuntimeError), match="cuda|device"):
        layer(torch.ones(4, 3))


def test_size_inferred_chain_builds_on_the_input_device_at_first_call() -> None:
    model = Chain(Affine(7), relu, Affine(3))  # no Input: sizes come from the first call
    y = model(torch.randn(5, 4, device="cuda"))
    assert y.shape == (5, 3) and y.device.type == "cuda"
    assert {p.device.type for p in model.parameters()} == {"cuda"}


def test_gpu_and_cpu_move_models_and_nested_data() -> None:
    gpu, cpu = feature("gpu"), feature("cpu")
    model = gpu(mlp())
    assert {p.device.type for p in model.parameters()} == {"cuda"}
    x, (y, [z]) = gpu((torch.ones(2, 20), (torch.ones(1), [torch.zeros(1)])))
    assert x.is_cuda and y.is_cuda and z.is_cuda
    assert not cpu(x).is_cuda and {p.device.type for p in cpu(model).parameters()} == {"cpu"}


def test_a_training_step_on_cuda_matches_the_same_step_on_cpu() -> None:
    model, x, y = mlp(), torch.randn(32, 20), torch.randint(0, 5, (32,))
    twin = copy.deepcopy(model).cuda()
    for m, xs, ys in ((model, x, y), (twin, x.cuda(), y.cuda())):
        opt = torch.optim.SGD(m.parameters(), lr=0.5)
        loss = F.nll_loss(m(xs).log(), ys)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(q.cpu(), p, rtol=1e-4, atol=1e-5)


def test_train_runs_on_the_models_cuda_device_and_lowers_the_loss() -> None:
    train = feature("train")
    torch.manual_seed(0)
    model = Chain(Affine(4, 16), relu, Affine(16, 1)).cuda()
    x = torch.randn(256, 4)
    y = x.sum(1, keepdim=True)
    history = train(model, [(x, y)] * 50, opt=torch.optim.Adam(model.parameters(), lr=1e-2), progress=False)
    assert history[-1] < history[0] / 10
    assert {p.device.type for p in model.parameters()} == {"cuda"}


def test_unrolled_lstm_on_cuda_matches_cudnn_lstm_forward_and_gradients() -> None:
    LSTM, unroll = feature("LSTM"), feature("unroll")
    torch.manual_seed(0)
    cell = LSTM(6, 16).cuda()
    model = unroll(cell, 7, stateful=False)
    reference = nn.LSTM(6, 16, batch_first=True).cuda()
    with torch.no_grad():  # torch stacks the gates input, forget, cell, output
        reference.weight_ih_l0.copy_(torch.cat([cell.Wxi, cell.Wxf, cell.Wxc, cell.Wxo], 1).T)
        reference.weight_hh_l0.copy_(torch.cat([cell.Wyi, cell.Wyf, cell.Wyc, cell.Wyo], 1).T)
        reference.bias_ih_l0.copy_(torch.cat([cell.bi, cell.bf, cell.bc, cell.bo]))
        reference.bias_hh_l0.zero_()
    x = torch.randn(3, 7, 6, device="cuda", requires_grad=True)
    ours = model(x)
    h0 = cell.y.expand(1, 3, 16).contiguous()
    c0 = cell.state.expand(1, 3, 16).contiguous()
    theirs = reference(x, (h0, c0))[0]
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    (g_ours,) = torch.autograd.grad(ours.sum(), x)
    (g_theirs,) = torch.autograd.grad(theirs.sum(), x)
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-4, atol=1e-5)


def test_stepped_recurrent_chain_on_cuda_matches_cpu() -> None:
    GatedRecurrent, unroll = feature("GatedRecurrent"), feature("unroll")
    torch.manual_seed(0)
    model = unroll(Chain(GatedRecurrent(5, 8), Affine(8, 3)), 4, stateful=False)
    x = torch.randn(2, 4, 5)
    expected = model(x)
    model.cuda()
    torch.testing.assert_close(model(x.cuda()).cpu(), expected, rtol=1e-4, atol=1e-5)


def test_lstm_converters_round_trip_through_cudnn() -> None:
    from_torch_lstm = feature("from_torch_lstm")
    unroll = feature("unroll")
    torch.manual_seed(0)
    reference = nn.LSTM(4, 8, batch_first=True).cuda()
    cell = from_torch_lstm(reference).cuda()
    x = torch.randn(2, 5, 4, device="cuda")
    torch.testing.assert_close(unroll(cell, 5, stateful=False)(x), reference(x)[0], rtol=1e-4, atol=1e-5)


def test_save_on_cuda_then_load_on_cpu_and_back(tmp_path) -> None:
    save, load = feature("save"), feature("load")
    model, x = mlp().cuda(), torch.randn(4, 20)
    path = tmp_path / "model.safetensors"
    save(model, path)
    on_cpu = load(path, device="cpu")
    assert {p.device.type for p in on_cpu.parameters()} == {"cpu"}
    torch.testing.assert_close(on_cpu(x), model(x.cuda()).cpu(), rtol=1e-4, atol=1e-5)
    back = load(path, device="cuda")
    assert {p.device.type for p in back.parameters()} == {"cuda"}
    torch.testing.assert_close(back(x.cuda()), model(x.cuda()))


def test_save_on_cpu_then_load_on_cuda(tmp_path) -> None:
    save, load = feature("save"), feature("load")
    model, x = mlp(), torch.randn(4, 20)
    save(model, tmp_path / "m.safetensors")
    torch.testing.assert_close(load(tmp_path / "m.safetensors", device="cuda")(x.cuda()).cpu(), model(x), rtol=1e-4, atol=1e-5)


def test_torch_save_of_a_cuda_model_loads_onto_the_cpu(tmp_path) -> None:
    model, x = mlp().cuda(), torch.randn(4, 20)
    torch.save(model, tmp_path / "m.pt")
    on_cpu = torch.load(tmp_path / "m.pt", map_location="cpu", weights_only=False)
    torch.testing.assert_close(on_cpu(x), model(x.cuda()).cpu(), rtol=1e-4, atol=1e-5)


def test_torch_compile_on_cuda_has_no_graph_breaks_and_matches_eager() -> None:
    torch._dynamo.reset()
    model, x = mlp().cuda(), torch.randn(64, 20, device="cuda")
    compiled = torch.compile(model, fullgraph=True)
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
    loss = compiled(x).sum()
    loss.backward()
    assert all(p.grad is not None and p.grad.is_cuda for p in model.parameters())


def test_compiled_unrolled_recurrent_chain_on_cuda_matches_eager_with_gradients() -> None:
    LSTM, GatedRecurrent, unroll = feature("LSTM"), feature("GatedRecurrent"), feature("unroll")
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = unroll(Chain(LSTM(3, 8), Affine(8, 4), GatedRecurrent(4, 5)), 6, stateful=False).cuda()
    twin = copy.deepcopy(model)
    xs = torch.randn(2, 6, 3, device="cuda")
    compiled = torch.compile(model, fullgraph=True)  # inductor on CUDA; a graph break would raise
    torch.testing.assert_close(compiled(xs), twin(xs), rtol=1e-4, atol=1e-5)
    compiled(xs).square().sum().backward()
    twin(xs).square().sum().backward()
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_outputsize_of_a_cuda_model_allocates_nothing_on_the_device() -> None:
    outputsize = feature("outputsize")
    model = Chain(Affine(1024, 4096), relu, Affine(4096, 10)).cuda()
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    assert tuple(outputsize(model, (100_000, 1024))) == (100_000, 10)  # a real run would need 1.6 GiB
    assert torch.cuda.memory_allocated() == before


def test_batch_moves_to_cuda_and_a_model_keeps_it_a_batch() -> None:
    Batch, rawbatch = feature("Batch"), feature("rawbatch")
    xs = Batch([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).to("cuda")
    assert rawbatch(xs).is_cuda
    ys = Affine(3, 2).cuda()(xs)
    assert isinstance(ys, Batch) and rawbatch(ys).is_cuda and len(ys) == 2
