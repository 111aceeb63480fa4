"""Errors that find their layer: type and message kept, one note naming path, layer, shapes, lines."""

import inspect

import pytest
import torch
from torch import nn

from fluxtorch import Affine, Chain, Model, Param, annotate, net, relu, softmax, σ


@net
class TLP:
    first: Model
    second: Model

    def forward(self, x):
        l1 = σ(self.first(x))
        return softmax(self.second(l1))


SECOND_LINE = inspect.getsourcelines(TLP.forward.__wrapped__)[1] + 2  # `return softmax(...)`


def fluxtorch_notes(err: BaseException) -> list[str]:
    return [n for n in getattr(err, "__notes__", []) if n.startswith("fluxtorch:")]


def test_tlp_failure_names_field_layer_shapes_and_user_line() -> None:
    model = TLP(Affine(10, 20), Affine(21, 15))
    with pytest.raises(ValueError, match=r"expected input with 21 features") as info:
        model(torch.rand(5, 10))
    assert str(info.value).startswith("Affine(21 => 15) expected input with 21 features")  # message kept
    [note] = fluxtorch_notes(info.value)
    head, *calls = note.splitlines()
    assert "TLP.second" in head and "an Affine(21 => 15)" in head
    assert "W (21, 15)" in head and "given input of shape (5, 20)" in head  # both shapes that met
    assert calls == [f"  TLP.second called at line {SECOND_LINE} of {__file__}: `return softmax(self.second(l1))`"]


def test_chain_failure_names_position_and_function() -> None:
    model = Chain(Affine(10, 5), relu, lambda x: x @ torch.ones(3, 3))
    with pytest.raises(RuntimeError, match="cannot be multiplied") as info:
        model(torch.rand(4, 10))
    [note] = fluxtorch_notes(info.value)
    assert note.startswith("fluxtorch: the error happened in Chain[2], a <lambda>, given input of shape (4, 5)")
    assert "raised at line" in note and "lambda x: x @ torch.ones(3, 3)" in note  # the user's failing line


def test_named_chain_layers_are_named_in_the_path() -> None:
    model = Chain(encoder=Affine(10, 5), decoder=Affine(6, 10))
    with pytest.raises(ValueError) as info:
        model(torch.rand(2, 10))
    [note] = fluxtorch_notes(info.value)
    assert note.startswith("fluxtorch: the error happened in Chain.decoder, an Affine(6 => 10)")


def test_nested_chain_in_template_in_chain_gives_one_note_with_the_whole_path() -> None:
    inner = TLP(Affine(5, 20), Chain(relu, Affine(21, 15)))
    model = Chain(Affine(10, 5), Chain(relu, inner), softmax)
    with pytest.raises(ValueError) as info:
        model(torch.rand(3, 10))
    notes = fluxtorch_notes(info.value)
    assert len(notes) == 1  # rewritten at each level, never one per level
    head, *calls = notes[0].splitlines()
    assert head.startswith("fluxtorch: the error happened in Chain[1][1].second[1], an Affine(21 => 15)")
    assert "given input of shape (3, 20)" in head
    assert calls == [f"  Chain[1][1].second called at line {SECOND_LINE} of {__file__}: `return softmax(self.second(l1))`"]


def test_template_failing_in_its_own_code_points_at_that_line() -> None:
    @net
    class Bad:
        W: Param

        def forward(self, x):
            return x @ self.W.T  # W.T is (2, 3): the inner sizes differ

    model = Chain(relu, Bad(torch.ones(3, 2)))
    with pytest.raises(RuntimeError) as info:
        model(torch.ones(4, 3))
    [note] = fluxtorch_notes(info.value)
    assert note.startswith("fluxtorch: the error happened in Chain[1], a Bad(")
    assert "given input of shape (4, 3)" in note
    assert "raised at line" in note and "return x @ self.W.T" in note


def test_other_notes_survive_and_error_type_is_kept() -> None:
    def fails(x):
        err = KeyError("missing")
        err.add_note("user note")
        raise err

    with pytest.raises(KeyError) as info:
        Chain(relu, fails)(torch.ones(2))
    assert info.value.__notes__[0] == "user note"
    assert len(fluxtorch_notes(info.value)) == 1


def test_torch_module_inside_chain_is_named() -> None:
    with pytest.raises(RuntimeError) as info:
        Chain(Affine(4, 3), nn.Linear(5, 2))(torch.ones(2, 4))
    [note] = fluxtorch_notes(info.value)
    assert "Chain[1], a Linear(in_features=5, out_features=2, bias=True), given input of shape (2, 3)" in note
    assert note.endswith("; it holds weight (2, 5) and bias (2,)")


def test_annotate_directly_on_an_error() -> None:
    err = ValueError("bad")
    annotate(err, Chain(relu, Affine(2, 3)), step=1, child=Affine(2, 3), x=torch.ones(4))
    assert fluxtorch_notes(err)[0].startswith("fluxtorch: the error happened in Chain[1], an Affine(2 => 3)")


def test_success_path_never_builds_notes(monkeypatch: pytest.MonkeyPatch) -> None:
    import fluxtorch._template
    import fluxtorch.layers._chain

    calls = []
    monkeypatch.setattr(fluxtorch._template, "annotate", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(fluxtorch.layers._chain, "annotate", lambda *a, **k: calls.append(a))
    model = Chain(Affine(10, 5), Chain(relu, TLP(Affine(5, 20), Chain(Affine(20, 15)))), softmax)
    model(torch.rand(3, 10))
    assert calls == []
    with pytest.raises(ValueError):
        model(torch.rand(3, 11))
    assert len(calls) == 2  # the patched levels that saw the error: the outer Chain, the Affine


def test_path_goes_through_plain_torch_modules_that_hold_models() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = Chain(relu, Affine(7, 2))

        def forward(self, x):
            return self.body(x)

    with pytest.raises(ValueError) as info:
        Chain(Affine(4, 3), Block())(torch.ones(2, 4))
    [note] = fluxtorch_notes(info.value)
    assert note.startswith("fluxtorch: the error happened in Chain[1].body[1], an Affine(7 => 2), given input of shape (2, 3)")


def test_a_failing_repr_never_replaces_the_error() -> None:
    class Broken(nn.Module):
        def forward(self, x):
            raise IndexError("the real problem")

        def __repr__(self) -> str:
            raise ValueError("repr is broken")

    with pytest.raises(IndexError, match="the real problem") as info:
        Chain(Broken())(torch.ones(2))
    assert "<Broken>" in info.value.__notes__[0]


def test_a_layer_with_a_multi_line_repr_is_named_on_one_line_in_the_note() -> None:
    model = Chain(nn.Sequential(nn.ReLU(), nn.Linear(5, 2)))
    with pytest.raises(RuntimeError) as caught:
        model(torch.rand(2, 3))
    assert caught.value.__notes__[-1].startswith(
        "fluxtorch: the error happened in Chain[0], a Sequential((0): ReLU() (1): Linear(in_features=5, out_features=2,"
    )
