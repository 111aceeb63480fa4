"""Size inference: uninferred layers refuse to hand out parameters they do not have yet."""

import pytest
import torch

from fluxtorch import Affine, Chain, UninferredError, relu


def test_state_dict_of_an_uninferred_model_is_refused_not_empty() -> None:
    model = Chain(Affine(4), relu, Affine(2))
    with pytest.raises(UninferredError, match=r"Affine\(\? => 4\).*Fix: start the Chain with Input"):
        model.state_dict()
    with pytest.raises(UninferredError, match=r"Affine\(\? => 4\) does not know its input size yet"):
        model[0].state_dict()
    model(torch.ones(3, 5))
    assert list(model.state_dict()) == ["0.W", "0.b", "2.W", "2.b"]
    assert model.state_dict()["0.W"].shape == (5, 4)


def test_parameters_of_an_uninferred_layer_are_refused() -> None:
    layer = Affine(3)
    with pytest.raises(UninferredError, match="does not know its input size yet"):
        torch.optim.SGD(layer.parameters(), lr=0.1)
    with pytest.raises(UninferredError, match=r"\.W does not exist yet"):
        layer.W.shape
    assert isinstance(UninferredError("x"), AttributeError)  # hasattr(layer, "W") is False, not an error


def test_an_uninferred_template_is_told_to_give_sizes_not_to_start_a_chain() -> None:
    from fluxtorch import SkipConnection

    block = SkipConnection(Affine(3), torch.add)
    with pytest.raises(UninferredError, match=r"SkipConnection has layers .* Fix: give its layers their input sizes"):
        list(block.parameters())
    block(torch.ones(2, 3))
    assert block.layer.W.shape == (3, 3)
