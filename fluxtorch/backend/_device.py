"""``gpu``/``cpu``: move models and data, however they are nested, between devices."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from fluxtorch._convert import to_tensor

T = TypeVar("T")
_log = logging.getLogger("fluxtorch")
_said_no_cuda = False


def gpu(x: T) -> T:
    """``x`` on the CUDA device: a model, a tensor, an array, or tuples/lists/dicts of them.

    Anything with a ``.to(device)`` method (``Batch``, ``Seq``, ``nn.Module``) moves with
    it; NumPy arrays become tensors; other values pass through.  As in Flux, a program
    written with ``gpu`` also runs on a machine without CUDA: there ``gpu`` returns ``x``
    unchanged and logs once (a ``logging`` warning, not a Python warning) that
    everything stays on the CPU.

    >>> model = gpu(Chain(Affine(3, 2), relu))
    >>> x = gpu(torch.rand(4, 3))
    >>> model(x).device == next(model.parameters()).device
    True
    """
    if not torch.cuda.is_available():
        _say_no_cuda()
        return x
    return move(x, torch.device("cuda"))


def cpu(x: T) -> T:
    """``x`` on the CPU: the counterpart of ``gpu``, for the same kinds of values.

    >>> cpu((torch.ones(2), [torch.zeros(1)], {"y": torch.ones(1)}))[0].device
    device(type='cpu')
    """
    return move(x, torch.device("cpu"))


def move(x: Any, device: torch.device) -> Any:
    """``x`` with every tensor and module inside it on ``device``; containers keep their type.

    >>> move((torch.ones(1), [torch.zeros(1)]), torch.device("cpu"))
    (tensor([1.]), [tensor([0.])])
    """
    if isinstance(x, Tensor):
        if x.device == device:  # the common case in a training loop: nothing to do
            return x
        return x.to(device, non_blocking=device.type == "cuda")  # host-to-GPU copies may overlap
    if isinstance(x, nn.Module):
        return x.to(device)
    if isinstance(x, np.ndarray):
        return x if device.type == "cpu" else to_tensor(x).to(device)
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # a namedtuple
        return type(x)(*(move(item, device) for item in x))
    if isinstance(x, (tuple, list)):
        return type(x)(move(item, device) for item in x)
    if isinstance(x, dict):
        moved = {key: move(value, device) for key, value in x.items()}
        try:
            return type(x)(moved)
        except TypeError:
            return moved
    to = getattr(x, "to", None)
    if callable(to) and not isinstance(x, type):
        return to(device)
    return x


def _say_no_cuda() -> None:
    global _said_no_cuda
    if not _said_no_cuda:
        _said_no_cuda = True
        _log.warning(
            "fluxtorch.gpu: no CUDA device is available (torch.cuda.is_available() is False), so "
            "models and data stay on the CPU. To insist on a GPU, move with .to('cuda') instead."
        )
