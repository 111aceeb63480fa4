"""Size inference: layers whose parameters are built from the first input shape they see.

``T.infer(build, shown)`` makes such a layer (``Affine(128)``); until its sizes are known,
its fields are placeholders that explain the fix when used, and containers refuse to
hand out parameters that do not exist yet.
"""

from __future__ import annotations

from typing import Any, Iterator

from torch import Tensor, nn

from fluxtorch._convert import to_tensor
from fluxtorch._shape import is_shape_only, real_tensors


class UninferredError(AttributeError, RuntimeError):
    """A layer's sizes are not known yet, so its parameters do not exist.

    >>> Affine(3).W.shape
    Traceback (most recent call last):
    ...
    fluxtorch._infer.UninferredError: Affine(? => 3).W does not exist yet: ...
    """


class InferringModule(nn.Module):
    """Base of fluxtorch's containers: parameters are refused while a layer's size is uninferred.

    >>> list(Chain(Affine(3)).parameters())
    Traceback (most recent call last):
    ...
    fluxtorch._infer.UninferredError: Chain has layers whose input size is not inferred yet ...
    """

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        """As ``nn.Module.parameters``; refused while a layer's size is uninferred."""
        _require_inferred(self)
        return (p for _, p in nn.Module.named_parameters(self, recurse=recurse))  # checked once, above

    def named_parameters(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, nn.Parameter]]:
        """As ``nn.Module.named_parameters``; refused while a layer's size is uninferred."""
        _require_inferred(self)
        return super().named_parameters(*args, **kwargs)

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        """As ``nn.Module.state_dict``; refused while a layer's size is uninferred (it would miss them)."""
        if not kwargs.get("prefix") and not args:  # the outermost call checks the whole model once
            _require_inferred(self)
        return super().state_dict(*args, **kwargs)


def _infer_on_call(module: Any, args: tuple) -> None:
    """Forward pre-hook of a pending layer: build it from the first input's shape."""
    x = to_tensor(args[0]) if args else None
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{module!r} infers its sizes from a tensor input; got {type(x).__name__}. "
            f"Fix: call it on a tensor (or an array or list of numbers), e.g. layer(torch.randn(1, 4))."
        )
    dtype = x.dtype if x.is_floating_point() else None
    if is_shape_only(x):  # size inference on a data-free tensor still builds real parameters
        with real_tensors():
            module.materialize(x.shape, dtype=dtype)
    else:
        module.materialize(x.shape, device=x.device, dtype=dtype)


def is_pending(module: nn.Module) -> bool:
    """Whether ``module`` is a size-inferred layer that has not seen its input shape yet.

    >>> is_pending(Affine(3)), is_pending(Affine(2, 3))
    (True, False)
    """
    return module.__dict__.get("_pending") is not None  # no nn.Module.__getattr__ miss per module


def uninferred_layers(model: nn.Module) -> list[str]:
    """Paths of the layers inside ``model`` whose sizes are not inferred yet."""
    return [f"{name or 'model'}: {m!r}" for name, m in model.named_modules() if is_pending(m)]


def _require_inferred(model: nn.Module) -> None:
    missing = uninferred_layers(model)
    if missing:
        what = (
            f"{model!r} does not know its input size yet, so its parameters do not exist"
            if is_pending(model)
            else f"{type(model).__name__} has layers whose input size is not inferred yet "
            f"({'; '.join(missing)}), so their parameters do not exist"
        )
        start = (
            "start the Chain with Input(...) (e.g. Chain(Input(784), Affine(128), ...))"
            if type(model).__name__ == "Chain" or is_pending(model)
            else "give its layers their input sizes (e.g. Affine(784, 128)), or Chains starting with Input(...),"
        )
        raise UninferredError(
            f"{what}. Fix: {start} or call the model once "
            f"on example data before asking for parameters or building an optimizer."
        )


class _Uninferred:
    """Stands in for a parameter of a pending layer; any use explains the fix."""

    def __init__(self, owner: Any, name: str) -> None:
        self._message = (
            f"{owner!r}.{name} does not exist yet: the layer's input size is not inferred. "
            f"Fix: put Input(...) first in the Chain, or call the model once on example data."
        )

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise UninferredError(self._message)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
        for arg in (*args, *(kwargs or {}).values()):
            if isinstance(arg, cls):
                arg._fail()
        return NotImplemented

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        self._fail()

    def __repr__(self) -> str:
        return "<uninferred parameter>"

    __matmul__ = __rmatmul__ = __add__ = __radd__ = __mul__ = __rmul__ = _fail
    __sub__ = __rsub__ = __truediv__ = __rtruediv__ = __len__ = __iter__ = _fail


__all__ = ["InferringModule", "UninferredError", "uninferred_layers"]
