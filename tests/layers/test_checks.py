"""Shared layer input checks: dtype and device mismatches."""

import torch

from fluxtorch.layers._checks import kind_mismatch


def test_no_error_when_dtype_and_device_match() -> None:
    assert kind_mismatch("L", torch.ones(2), torch.ones(2)) is None


def test_float_input_suggests_either_conversion_integer_input_only_the_data() -> None:
    err = kind_mismatch("L", torch.ones(2, dtype=torch.float64), torch.ones(2))
    assert isinstance(err, TypeError) and "x.to(torch.float32), or the model, e.g. model.to(torch.float64)" in str(err)
    assert "model.to" not in str(kind_mismatch("L", torch.ones(2, dtype=torch.int64), torch.ones(2)))


def test_device_mismatch_says_to_move() -> None:
    err = kind_mismatch("L", torch.ones(2, device="meta"), torch.ones(2))
    assert "Fix: move the data, e.g. x.to('cpu'), or the model, e.g. model.to('meta')." in str(err)
