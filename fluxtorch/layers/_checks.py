"""Input checks shared by layers: data of another dtype or device than the parameters."""

from __future__ import annotations

from typing import Any

from torch import Tensor


def kind_mismatch(layer: Any, x: Tensor, W: Tensor) -> TypeError | None:
    """The error for input ``x`` whose dtype or device differs from parameter ``W``'s (None if neither).

    >>> print(kind_mismatch("Affine(3 => 2)", torch.ones(3, dtype=torch.int64), torch.ones(3, 2)))
    Affine(3 => 2) holds torch.float32 parameters on cpu, got input of dtype torch.int64 on cpu. Fix: convert the data, e.g. x.to(torch.float32).
    """
    if x.dtype == W.dtype and x.device == W.device:
        return None
    if x.device != W.device:
        fix = f"move the data, e.g. x.to('{W.device}'), or the model, e.g. model.to('{x.device}')"
    else:
        fix = f"convert the data, e.g. x.to({W.dtype})"
        fix += f", or the model, e.g. model.to({x.dtype})" if x.is_floating_point() else ""
    return TypeError(
        f"{layer} holds {W.dtype} parameters on {W.device}, got input of dtype {x.dtype} on {x.device}. Fix: {fix}."
    )
