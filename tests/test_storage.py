"""save/load, save_weights/load_weights, torch.save, register and the file's defences."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

import fluxtorch
from fluxtorch import (
    Affine, AvgPool, Chain, Conv2D, Input, LoadError, MaxPool, Model, Param, Reshape, flatten, load,
    load_weights, net, register, relu, save, save_weights, softmax, tanh, σ,
)
from fluxtorch.storage import _format
from seed_models import TLP, mlp, convnet


@net
class Scaled:
    W: Param
    scale: float = 2.0
    act: Model = relu

    def forward(self, x):
        return self.act(x @ self.W) * self.scale


@net
class Configured:
    W: Param
    shape: tuple = (1, 2)
    names: list = None
    options: dict = None
    eps: float = float("inf")
    dtype: torch.dtype = torch.float64
    extra: object = None

    def forward(self, x):
        return (x @ self.W).to(self.dtype) * min(self.eps, 3.0)


def swish(x):
    return x * torch.sigmoid(x)


class Doubler(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = features
        self.w = nn.Parameter(torch.randn(features))

    def forward(self, x):
        return 2 * x * self.w


def same_outputs(a, b, x) -> bool:
    return torch.equal(a(x), b(x))


# Round trips -----------------------------------------------------------------------------------

@pytest.mark.parametrize("build, shape", [(mlp, (5, 784)), (convnet, (3, 1, 28, 28))])
def test_save_load_gives_identical_outputs(tmp_path: Path, build, shape) -> None:
    model, x = build(), torch.randn(shape)
    save(model, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    assert repr(loaded) == repr(model)
    assert same_outputs(model, loaded, x)
    assert loaded.state_dict().keys() == model.state_dict().keys()
    assert all(p.requires_grad for p in loaded.parameters())


def test_templates_functions_and_torch_layers_round_trip(tmp_path: Path) -> None:
    register(swish, "tests.swish")
    model = Chain(
        TLP(Affine(6, 5), Affine(5, 4)),
        Scaled(torch.randn(4, 4), scale=0.5, act=F.gelu),
        torch.exp, swish, torch.nn.functional.silu, tanh,
        nn.Linear(4, 3), nn.LayerNorm(3), nn.Sequential(nn.Linear(3, 3), nn.ReLU()),
        head=Affine(3, 2),
    )
    save(model, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    assert repr(loaded) == repr(model)
    assert loaded[1].scale == 0.5 and loaded[1].act is F.gelu and loaded[3] is swish
    assert same_outputs(model, loaded, torch.randn(7, 6))
    assert loaded.head is loaded["head"]


def test_template_settings_round_trip_with_their_types(tmp_path: Path) -> None:
    model = Configured(torch.randn(3, 2), (4, (5,)), ["a", 1.5], {"k": None, "n": [True]}, float("nan"), torch.float16)
    save(model, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    assert loaded.shape == (4, (5,)) and loaded.names == ["a", 1.5] and loaded.options == {"k": None, "n": [True]}
    assert loaded.eps != loaded.eps and loaded.dtype is torch.float16  # nan stays nan
    with pytest.raises(fluxtorch.SaveError, match=r"Configured\.extra: it holds a object"):
        save(Configured(torch.randn(3, 2), extra=object()), tmp_path / "other.safetensors")
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_dtypes_buffers_and_lstm_round_trip(tmp_path: Path) -> None:
    norm = nn.BatchNorm1d(4)
    norm(torch.randn(16, 4))  # running statistics differ from their initial values
    model = Chain(Affine(3, 4), norm).double().eval()
    save(model, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors").eval()
    assert loaded[0].W.dtype == torch.float64
    assert torch.equal(loaded[1].running_mean, norm.running_mean)
    assert same_outputs(model, loaded, torch.randn(5, 3, dtype=torch.float64))
    lstm = nn.LSTM(3, 5, num_layers=2, batch_first=True)
    save(lstm, tmp_path / "lstm.safetensors")
    again = load(tmp_path / "lstm.safetensors")
    x = torch.randn(2, 7, 3)
    assert torch.equal(again(x)[0], lstm(x)[0])


@pytest.mark.parametrize("layer, shape", [
    (nn.Conv2d(1, 4, 3, stride=2, padding=1, bias=False), (2, 1, 8, 8)),
    (nn.GRU(3, 4, bidirectional=True, batch_first=True), (2, 5, 3)),
    (nn.RNN(3, 4, nonlinearity="relu"), (5, 2, 3)),
    (nn.Embedding(10, 3), None),
    (nn.GELU(approximate="tanh"), (2, 3)),
    (nn.Identity(), (2, 3)),
], ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "")
def test_torch_nn_layers_round_trip_by_constructor(tmp_path: Path, layer, shape) -> None:
    save(layer, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    assert type(loaded) is type(layer) and repr(loaded) == repr(layer)
    x = torch.randint(0, 10, (4,)) if shape is None else torch.randn(shape)
    first = lambda y: y[0] if isinstance(y, tuple) else y  # noqa: E731 - recurrent layers return (y, h)
    assert torch.equal(first(loaded(x)), first(layer(x)))


def test_shared_layers_and_parameters_stay_shared(tmp_path: Path) -> None:
    a = Affine(4, 4)
    tied = Affine(a.W, torch.zeros(4))
    model = Chain(a, relu, a, tied)
    save(model, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    assert loaded[0] is loaded[2]
    assert loaded[3].W is loaded[0].W
    assert sum(p.numel() for p in loaded.parameters()) == sum(p.numel() for p in model.parameters())
    with safe_open(tmp_path / "m.safetensors", "pt") as f:
        assert sorted(f.keys()) == ["0.W", "0.b", "3.b"]  # each tensor stored once
    assert same_outputs(model, loaded, torch.randn(2, 4))


def test_frozen_parameters_stay_frozen_and_device_is_chosen(tmp_path: Path) -> None:
    model = Chain(Affine(2, 3))
    model[0].W.requires_grad_(False)
    save(model, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors", device="cpu")
    assert not loaded[0].W.requires_grad and loaded[0].b.requires_grad


def test_a_plain_function_is_a_model_too(tmp_path: Path) -> None:
    save(torch.exp, tmp_path / "f.safetensors")
    assert load(tmp_path / "f.safetensors") is torch.exp


def test_file_is_standard_safetensors(tmp_path: Path) -> None:
    model = mlp()
    save(model, tmp_path / "m.safetensors")
    with safe_open(tmp_path / "m.safetensors", "pt") as f:
        assert f.metadata()["fluxtorch.format"] == "1"
        for key, value in model.state_dict().items():
            assert torch.equal(f.get_tensor(key), value)


def layers_for(data) -> Chain:
    """A random Chain of Affine/activations/Input/conv shims, sizes inferred from Input."""
    if data.draw(st.booleans(), label="conv"):
        layers = [Input(data.draw(st.integers(1, 3)), 8, 8), Conv2D(data.draw(st.integers(1, 4)), 3)]
        layers += data.draw(st.lists(st.sampled_from([relu, σ, tanh]), max_size=2))
        layers += [data.draw(st.sampled_from([MaxPool(2), AvgPool(2)])), flatten]
    else:
        layers = [Input(data.draw(st.integers(1, 6)))]
    for _ in range(data.draw(st.integers(1, 3))):
        layers.append(Affine(data.draw(st.integers(1, 6))))
        layers += data.draw(st.lists(st.sampled_from([relu, σ, tanh, softmax, torch.exp]), max_size=2))
    return Chain(*layers)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_property_every_round_trip_is_bit_identical(tmp_path: Path, data) -> None:
    model = layers_for(data)
    x = torch.randn(2, *model[0].shape)
    save(model, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    assert same_outputs(model, loaded, x)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    assert same_outputs(model, torch.load(buffer, weights_only=False), x)
    fresh = layers_for_shape_of(model)
    fresh.load_state_dict(model.state_dict())
    assert same_outputs(model, fresh, x)


def layers_for_shape_of(model: Chain) -> Chain:
    """A new model of the same architecture with fresh weights, built in code."""
    return Chain(*[
        Affine(layer.W.shape[0], layer.W.shape[1]) if isinstance(layer, Affine) else
        Conv2D(layer.W.shape[1], layer.W.shape[0], 3) if isinstance(layer, Conv2D) else layer
        for layer in model
    ])


# torch.save -------------------------------------------------------------------------------------

def test_torch_save_and_load_whole_models(tmp_path: Path) -> None:
    model = Chain(TLP(Affine(5, 5), Affine(5, 3)), torch.exp, Reshape(3, 1), flatten, σ, Affine(4), softmax)
    x = torch.randn(2, 5)
    expected = model(x)  # infers the last Affine's size
    torch.save(model, tmp_path / "m.pt")
    loaded = torch.load(tmp_path / "m.pt", weights_only=False)
    assert torch.equal(loaded(x), expected)
    assert repr(loaded) == repr(model)


def test_state_dict_round_trip() -> None:
    model, other = mlp(), mlp()
    other.load_state_dict(model.state_dict())
    assert same_outputs(model, other, torch.randn(3, 784))


# What save refuses -----------------------------------------------------------------------------

def test_lambda_is_refused_naming_the_layer(tmp_path: Path) -> None:
    assert issubclass(fluxtorch.SaveError, TypeError) and issubclass(fluxtorch.SaveError, ValueError)
    with pytest.raises(fluxtorch.SaveError, match=r"Chain\[2\].*lambda.*register"):
        save(Chain(Affine(2, 3), relu, lambda x: x * 2), tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match=r"TLP\.second\[1\].*lambda"):
        save(TLP(Affine(2, 3), Chain(Affine(3, 2), lambda x: x)), tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_local_and_unregistered_functions_and_modules_are_refused(tmp_path: Path) -> None:
    def local(x):
        return x

    with pytest.raises(TypeError, match=r"Chain\[1\].*local function.*register"):
        save(Chain(Affine(2, 2), local), tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match=r"Chain\.extra.*Doubler.*@net.*register\(Doubler\)"):
        save(Chain(Affine(2, 2), extra=Doubler(2)), tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match=r"Chain\[0\].*ModuleList.*constructor"):
        save(Chain(nn.ModuleList([nn.Linear(2, 2)])), tmp_path / "m.safetensors")


def test_uninferred_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(fluxtorch.UninferredError, match="Input"):
        save(Chain(Affine(3), relu), tmp_path / "m.safetensors")


def test_registered_module_class_round_trips(tmp_path: Path) -> None:
    register(Doubler)
    model = Chain(Doubler(3), Affine(3, 2))
    save(model, tmp_path / "m.safetensors")
    assert same_outputs(model, load(tmp_path / "m.safetensors"), torch.randn(4, 3))


def test_register_checks_its_arguments() -> None:
    assert register(swish, "tests.swish") is swish
    with pytest.raises(ValueError, match="already stands for"):
        register(torch.exp, "tests.swish")
    with pytest.raises(ValueError, match="no qualified name"):
        register(lambda x: x)
    with pytest.raises(TypeError, match="function or a class"):
        register(3, "three")


# Atomic writes ----------------------------------------------------------------------------------

def old_file(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "m.safetensors"
    save(Chain(Affine(2, 2)), path)
    return path, path.read_bytes()


def test_refused_save_leaves_old_file_intact(tmp_path: Path) -> None:
    path, before = old_file(tmp_path)
    with pytest.raises(TypeError):
        save(Chain(Affine(2, 2), Affine(2, 2), lambda x: x), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_fault_mid_save_leaves_old_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where) -> None:
    path, before = old_file(tmp_path)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    if where == "write":  # the new file is half written when the write fails

        def half_then_fail(file, tensors, metadata):
            file.write(b"\0" * 64)
            boom()

        monkeypatch.setattr("fluxtorch.storage.write_tensors", half_then_fail)
    else:
        monkeypatch.setattr(f"fluxtorch.storage._atomic.os.{where}", boom)
    with pytest.raises(OSError, match="disk full"):
        save(mlp(), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_saving_into_a_missing_folder_names_the_target_not_a_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "m.safetensors"
    with pytest.raises(FileNotFoundError, match=r"cannot write .*m\.safetensors.*does not exist") as info:
        save(mlp(), target)
    assert ".tmp" not in str(info.value) and info.value.filename == str(target)


def test_layers_saved_in_evaluation_mode_load_in_it(tmp_path: Path) -> None:
    model = Chain(Affine(3, 8), nn.Dropout(0.5), Affine(8, 2)).eval()
    save(model, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    x = torch.randn(16, 3)
    assert not any(m.training for m in loaded.modules())
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    model.train()
    model[1].eval()  # modes may differ from layer to layer
    save(model, tmp_path / "m.safetensors")
    assert [m.training for m in load(tmp_path / "m.safetensors").modules()] == [True, True, False, True]


# What load refuses ------------------------------------------------------------------------------

def test_load_error_is_a_value_error_naming_the_file(tmp_path: Path) -> None:
    path, data = old_file(tmp_path)
    path.write_bytes(data[:-3])
    with pytest.raises(LoadError, match=r"m\.safetensors.*truncated") as info:
        load(path)
    assert isinstance(info.value, ValueError)
    path.write_bytes(b"")
    with pytest.raises(LoadError, match="too short"):
        load(path)


class _CreatesFile:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_pickle_payload_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(_CreatesFile(marker)))
    with pytest.raises(LoadError, match="pickle"):
        load(path)
    with pytest.raises(LoadError, match="pickle"):
        load_weights(Chain(Affine(2, 2)), path)
    assert not marker.exists()


def test_torch_save_archive_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    torch.save(Chain(Affine(2, 2)), path)
    with pytest.raises(LoadError, match="zip archive.*torch.load"):
        load(path)


def test_weights_only_file_points_to_load_weights(tmp_path: Path) -> None:
    save_file({"W": torch.zeros(2)}, tmp_path / "w.safetensors")
    with pytest.raises(LoadError, match=r"weights alone.*load_weights\(model, path\)"):
        load(tmp_path / "w.safetensors")


def write_raw(path: Path, metadata: dict, tensors: dict | None = None) -> None:
    with open(path, "wb") as file:
        _format.write_tensors(file, tensors or {}, metadata)


def test_newer_format_asks_for_an_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    write_raw(path, {"fluxtorch.format": "2", "fluxtorch.architecture": "{}"})
    with pytest.raises(LoadError, match="newer fluxtorch.*format 2.*upgrade"):
        load(path)


def test_unknown_names_in_the_architecture_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    write_raw(path, {"fluxtorch.format": "1", "fluxtorch.architecture": '{"function": "os.system"}'})
    with pytest.raises(LoadError, match="os.system.*register"):
        load(path)
    write_raw(path, {"fluxtorch.format": "1", "fluxtorch.architecture": '{"template": "nowhere.Evil", "fields": []}'})
    with pytest.raises(LoadError, match="nowhere.Evil.*does not define"):
        load(path)


def test_header_size_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes((10**12).to_bytes(8, "little") + b"{}")
    with pytest.raises(LoadError, match="limit"):
        load(path)


def test_flipped_byte_is_caught_by_the_checksum(tmp_path: Path) -> None:
    path, data = old_file(tmp_path)
    corrupted = bytearray(data)
    corrupted[-1] ^= 0x01  # inside the weights: the header still parses
    path.write_bytes(bytes(corrupted))
    with pytest.raises(LoadError, match="checksum"):
        load(path)


# Weights alone ----------------------------------------------------------------------------------

def test_weights_round_trip_into_a_model_built_in_code(tmp_path: Path) -> None:
    model, other = mlp(), mlp()
    save_weights(model, tmp_path / "w.safetensors")
    assert load_weights(other, tmp_path / "w.safetensors") is other
    assert same_outputs(model, other, torch.randn(2, 784))
    save(model, tmp_path / "m.safetensors")  # a whole-model file holds the same names
    third = mlp()
    load_weights(third, tmp_path / "m.safetensors")
    assert same_outputs(model, third, torch.randn(2, 784))


def test_weights_from_another_library_load(tmp_path: Path) -> None:
    model = Chain(Affine(3, 2))
    save_file({"0.W": torch.ones(3, 2), "0.b": torch.zeros(2)}, tmp_path / "w.safetensors")
    load_weights(model, tmp_path / "w.safetensors")
    assert torch.equal(model[0].W, torch.ones(3, 2))


def test_mismatched_weights_list_every_name_and_shape(tmp_path: Path) -> None:
    save_weights(mlp(), tmp_path / "w.safetensors")
    other = Chain(Input(784), Affine(100), relu, Affine(64), relu)
    before = other[1].W.clone()
    with pytest.raises(ValueError, match="does not fit") as info:
        load_weights(other, tmp_path / "w.safetensors")
    message = str(info.value)
    assert "1.W: the file has shape (784, 128), the model has (784, 100)" in message
    assert "1.b: the file has shape (128,), the model has (100,)" in message
    assert "3.W: the file has shape (128, 64), the model has (100, 64)" in message
    assert "in the file but not in the model: 5.W, 5.b" in message
    assert torch.equal(other[1].W, before)  # nothing copied
    bigger = Chain(Input(784), Affine(128), relu, Affine(64), relu, Affine(10), Affine(3))
    with pytest.raises(ValueError, match="missing from the file: 6.W, 6.b"):
        load_weights(bigger, tmp_path / "w.safetensors")


def test_failed_load_leaves_no_files_and_loaded_files_close(tmp_path: Path) -> None:
    path, _ = old_file(tmp_path)
    load(path)
    os.replace(path, tmp_path / "moved.safetensors")  # the file is not held open
    assert [p.name for p in tmp_path.iterdir()] == ["moved.safetensors"]


# Recurrent models and combinators ----------------------------------------------------------------

def test_unrolled_recurrent_models_round_trip(tmp_path: Path) -> None:
    model = fluxtorch.unroll(Chain(fluxtorch.LSTM(3, 8), fluxtorch.GatedRecurrent(8, 8), Affine(8, 4), softmax), 5)
    x1, x2 = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    save(model, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    assert repr(loaded) == repr(model)
    assert isinstance(loaded, type(model)) and loaded.n == 5 and loaded.stateful
    for x in (x1, x2):  # the carried state evolves the same way
        assert torch.equal(loaded(x), model(x))
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    again = torch.load(buffer, weights_only=False)
    model.reset()
    again.reset()
    assert torch.equal(again(x1), model(x1))


def test_step_models_flip_and_combinators_round_trip(tmp_path: Path) -> None:
    step = Chain(fluxtorch.Recurrent(3, 4), Affine(4, 2))
    model = Chain(
        fluxtorch.SkipConnection(fluxtorch.unroll(step, 6), fluxtorch.concat),
        fluxtorch.flip(fluxtorch.unroll(fluxtorch.LSTM(5, 3), 6, stateful=False)),
    )
    model2 = fluxtorch.Parallel(fluxtorch.concat, Affine(3, 2), Chain(Affine(3, 1), tanh))
    save(model, tmp_path / "m.safetensors")
    save(model2, tmp_path / "p.safetensors")
    x = torch.randn(2, 6, 3)
    assert torch.equal(load(tmp_path / "m.safetensors")(x), model(x))  # both start from the initial state
    assert same_outputs(model2, load(tmp_path / "p.safetensors"), torch.randn(4, 3))


def test_anonymous_template_with_a_lambda_is_refused(tmp_path: Path) -> None:
    d = Affine(3, 2)
    with pytest.raises(TypeError, match=r"Chain\[0\]\.fn.*lambda"):
        save(Chain(net(lambda x: x @ d.W + d.b), relu), tmp_path / "m.safetensors")


def test_weights_need_a_module(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="save_weights expected a model with weights.*save\\(model, path\\)"):
        save_weights(torch.exp, tmp_path / "w.safetensors")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.safetensors")


def test_template_saved_by_a_script_loads_where_it_is_imported(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    write_raw(path, {"fluxtorch.format": "1", "fluxtorch.architecture": (
        '{"template": "__main__.Configured", "fields": [["W", {"param": "W", "grad": true}], '
        '["shape", 1], ["names", null], ["options", null], ["eps", 1.0], ["dtype", {"dtype": "float32"}], '
        '["extra", null]]}'
    )}, {"W": torch.ones(2, 2)})
    loaded = load(path)
    assert type(loaded) is Configured and torch.equal(loaded.W, torch.ones(2, 2))


def test_container_agrees_with_the_safetensors_library_for_every_dtype(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    tensors = {str(dtype): torch.randn(2, 3).to(dtype) for dtype in _format._DTYPES.values()}
    tensors["scalar"], tensors["empty"] = torch.tensor(3.0), torch.zeros(0, 4)
    with open(tmp_path / "ours.safetensors", "wb") as file:
        _format.write_tensors(file, tensors, {"note": "hi"})
    save_file(tensors, tmp_path / "theirs.safetensors")
    bits = lambda t: (t.shape, t.dtype, t.reshape(-1).view(torch.uint8).tolist())  # noqa: E731 - NaN-proof
    for name, read in [("ours", load_file(tmp_path / "ours.safetensors")),
                       ("theirs", _format.read_tensors(tmp_path / "theirs.safetensors")[1])]:
        assert {k: bits(v) for k, v in read.items()} == {k: bits(v) for k, v in tensors.items()}, name


def test_a_compiled_model_is_saved_as_the_model_it_compiles(tmp_path: Path) -> None:
    model = mlp()
    save(torch.compile(model, backend="eager"), tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    assert repr(loaded) == repr(model) and same_outputs(model, loaded, torch.randn(2, 784))
