"""``outputsize`` and ``summary``: shapes and parameter counts without computing; agreement with real runs."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from fluxtorch import (
    Affine, AvgPool, Chain, Conv2D, Input, MaxPool, Reshape, flatten, outputsize, relu, sigmoid, softmax, summary, tanh,
)
from seed_models import TLP


def test_outputsize_is_a_tuple_computed_without_data() -> None:
    model = TLP(Affine(10, 20), Affine(20, 15))
    size = outputsize(model, (1, 10))
    assert size == (1, 15) and type(size) is tuple
    assert outputsize(model, (100_000_000, 10)) == (100_000_000, 15)  # 6 GB of activations if real


def test_outputsize_of_several_outputs_and_of_functions() -> None:
    assert outputsize(lambda x: (x, x.sum(1)), (3, 4)) == ((3, 4), (3,))
    assert outputsize(nn.Conv2d(3, 8, 5), (2, 3, 32, 32)) == (2, 8, 28, 28)


def test_outputsize_raises_the_models_own_error_when_shapes_do_not_fit() -> None:
    with pytest.raises(ValueError, match="expected input with 21 features") as info:
        outputsize(TLP(Affine(10, 20), Affine(21, 15)), (1, 10))
    assert any("TLP.second" in note for note in info.value.__notes__)


def table(text: str) -> list[list[str]]:
    lines = text.splitlines()
    return [[cell.strip() for cell in line.split("   ") if cell.strip()] for line in lines[2:-2]]


def test_summary_of_a_template_lists_fields_functions_shapes_and_counts(capsys: pytest.CaptureFixture) -> None:
    model = TLP(Affine(10, 20), Affine(20, 15))
    text = summary(model, (1, 10))
    assert capsys.readouterr().out.strip() == text
    assert text.splitlines()[0].split() == ["Layer", "Output", "shape", "Parameters"]
    assert table(text) == [
        ["TLP", "(1, 15)", "535"],
        [".first Affine(10 => 20)", "(1, 20)", "220"],
        ["σ", "(1, 20)", "0"],
        [".second Affine(20 => 15)", "(1, 15)", "315"],
        ["softmax", "(1, 15)", "0"],
    ]
    assert text.splitlines()[-1] == "Total parameters: 535 (trainable: 535, non-trainable: 0)"


def test_summary_of_a_chain_with_torch_modules_nested_chains_and_frozen_parameters() -> None:
    frozen = nn.Linear(5, 3)
    frozen.requires_grad_(False)
    model = Chain(Input(10), Chain(Affine(5), relu), frozen, nn.LayerNorm(3), softmax)
    rows = table(summary(model, (4, 10), show=False))
    assert rows == [
        ["Chain", "(4, 3)", "79"],
        ["[0] Input(10)", "(4, 10)", "0"],
        ["[1] Chain(Affine(10 => 5), relu)", "(4, 5)", "55"],
        ["[0] Affine(10 => 5)", "(4, 5)", "55"],
        ["[1] relu", "(4, 5)", "0"],
        ["[2] Linear(in_features=5, out_features=3, bias=True)", "(4, 3)", "18"],
        [f"[3] {nn.LayerNorm(3)!r}", "(4, 3)", "6"],
        ["[4] softmax", "(4, 3)", "0"],
    ]
    total = sum(p.numel() for p in model.parameters())
    assert summary(model, (4, 10), show=False).splitlines()[-1] == (
        f"Total parameters: {total} (trainable: {total - 18}, non-trainable: 18)"
    )


def test_summary_of_a_plain_function_and_shared_layers_counts_each_parameter_once() -> None:
    layer = Affine(4, 4)
    text = summary(Chain(layer, relu, layer), (2, 4), show=False)
    assert [row[0] for row in table(text)] == ["Chain", "[0] Affine(4 => 4)", "[1] relu", "[2] Affine(4 => 4)"]
    assert text.splitlines()[-1].startswith("Total parameters: 20 ")
    rows = table(summary(lambda x: softmax(layer(x)), (2, 4), show=False))
    assert rows == [["Affine(4 => 4)", "(2, 4)", "20"], ["softmax", "(2, 4)", "0"]]


def test_summary_of_a_model_that_does_not_fit_raises_and_points_at_shapes() -> None:
    with pytest.raises(ValueError) as info:
        summary(TLP(Affine(10, 20), Affine(21, 15)), (1, 10), show=False)
    assert any("shapes(model, (1, 10))" in note for note in info.value.__notes__)


# ---- property: the shape computed without data is the shape of a real run --------------------

ACTIVATIONS = [relu, sigmoid, tanh, softmax]


@st.composite
def chains(draw: st.DrawFn) -> tuple[Chain, tuple[int, ...]]:
    """A random valid Chain of conv shims and/or dense layers, with an input shape for it."""
    batch = draw(st.integers(1, 3))
    layers: list = []
    if draw(st.booleans()):  # an image part first
        channels, side = draw(st.integers(1, 3)), draw(st.integers(6, 14))
        shape = (batch, channels, side, side)
        if draw(st.booleans()):
            layers.append(Input(channels, side, side))
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["conv", "pool", "avg", "act"]))
            if kind == "conv":
                kernel, padding = draw(st.integers(1, 3)), draw(st.integers(0, 1))
                if side + 2 * padding - kernel + 1 < 1:
                    continue
                channels = draw(st.integers(1, 4))
                layers.append(Conv2D(channels, kernel, padding=padding))
                side = side + 2 * padding - kernel + 1
            elif kind in ("pool", "avg") and side >= 2:
                layers.append((MaxPool if kind == "pool" else AvgPool)(2))
                side //= 2
            elif kind == "act":
                layers.append(draw(st.sampled_from(ACTIVATIONS[:3])))
        layers.append(draw(st.sampled_from([flatten, Reshape(-1), Reshape(channels * side * side)])))
    else:
        features = draw(st.integers(1, 8))
        shape = (batch, features)
        if draw(st.booleans()):
            layers.append(Input(features))
    for _ in range(draw(st.integers(0, 3))):
        layers.append(Affine(draw(st.integers(1, 6))) if draw(st.booleans()) else draw(st.sampled_from(ACTIVATIONS)))
    return Chain(*layers), shape


@settings(max_examples=40, deadline=None)
@given(chains())
def test_outputsize_equals_the_real_output_shape(case: tuple[Chain, tuple[int, ...]]) -> None:
    model, shape = case
    predicted = outputsize(model, shape)
    assert predicted == tuple(model(torch.randn(shape)).shape)


def test_the_data_free_input_takes_the_models_dtype() -> None:
    model = Chain(Affine(3, 2), relu).to(torch.float64)
    assert outputsize(model, (4, 3)) == (4, 2)
    assert "Affine(3 => 2)" in summary(model, (4, 3), show=False)


def test_summary_of_an_uninferred_model_shows_the_sizes_it_inferred() -> None:
    model = Chain(Affine(128), relu, Chain(Affine(64), relu), Affine(10))
    text = summary(model, (1, 784), show=False)
    assert table(text) == [
        ["Chain", "(1, 10)", "109,386"],
        ["[0] Affine(784 => 128)", "(1, 128)", "100,480"],
        ["[1] relu", "(1, 128)", "0"],
        ["[2] Chain(Affine(128 => 64), relu)", "(1, 64)", "8,256"],
        ["[0] Affine(128 => 64)", "(1, 64)", "8,256"],
        ["[1] relu", "(1, 64)", "0"],
        ["[3] Affine(64 => 10)", "(1, 10)", "650"],
    ]
    assert "?" not in text and model[0].W.shape == (784, 128)


def test_batch_norm_in_training_mode_works_on_a_batch_of_one_and_is_left_untouched() -> None:
    norm = nn.BatchNorm1d(4)
    model = Chain(Affine(3, 4), norm, relu)
    before = {name: b.clone() for name, b in norm.named_buffers()}
    assert outputsize(model, (1, 3)) == (1, 4)  # in training mode a real batch of one would fail
    summary(model, (1, 3), show=False)
    assert model.training and norm.training
    for name, b in norm.named_buffers():
        assert torch.equal(b, before[name]), name  # running statistics and num_batches_tracked


def test_the_input_shape_may_be_an_int_a_list_or_a_torch_size_and_bad_ones_are_refused() -> None:
    layer = Affine(10, 3)
    assert outputsize(layer, 10) == (3,)
    assert outputsize(layer, [2, 10]) == outputsize(layer, torch.Size([2, 10])) == (2, 3)
    with pytest.raises(TypeError, match=r"outputsize expected the input's shape, got a tensor of shape \(2, 10\).*x.shape"):
        outputsize(layer, torch.ones(2, 10))
    with pytest.raises(TypeError, match=r"summary expected the input's shape as a tuple of int sizes, got \(2.5, 10\)"):
        summary(layer, (2.5, 10))
    with pytest.raises(ValueError, match=r"outputsize expected non-negative sizes in the input's shape, got \(-1, 10\)"):
        outputsize(layer, (-1, 10))
