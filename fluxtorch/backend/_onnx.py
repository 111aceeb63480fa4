"""``onnx(model, example)``: export to ONNX and run with ONNX Runtime, called like the original.

Like Flux's ``mxnet(model)``: the result is a model of another backend that gives the
same answers.  Export uses ``torch.onnx.export(dynamo=True)`` (``torch.export`` then
onnxscript), with a dynamic batch dimension.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from fluxtorch._convert import to_tensor
from fluxtorch._modes import evaluating
from fluxtorch._naming import callable_name
from fluxtorch.layers._chain import Chain
from fluxtorch.layers._input import Input

_NUMPY = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_,
}


class ExportError(TypeError, RuntimeError):
    """A layer that cannot be exported to ONNX; the exporter's own error is its ``__cause__``.

    A ``TypeError`` (the layer is of a kind a graph cannot hold) and a ``RuntimeError``
    (what torch's exporter raises), so code catching either works.
    """


class OnnxModel:
    """A model run by ONNX Runtime: tensors, lists or arrays in, tensors out.

    ``onnx_bytes`` holds the ONNX model; ``save(path)`` writes it for other runtimes.
    """

    def __init__(self, onnx_bytes: bytes, shown: str) -> None:
        import onnxruntime

        available = onnxruntime.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        self.onnx_bytes = onnx_bytes
        self.session = onnxruntime.InferenceSession(onnx_bytes, providers=providers)
        self._inputs = self.session.get_inputs()
        self._shown = shown

    def __call__(self, *xs: Any) -> Any:
        """Run the ONNX model on ``xs`` (a batch, or one data point as a batch of one)."""
        if len(xs) != len(self._inputs):
            raise TypeError(
                f"{self!r} takes {len(self._inputs)} input(s), got {len(xs)}. "
                f"Fix: pass as many inputs as the model was exported with."
            )
        tensors = [to_tensor(x, who=repr(self)) for x in xs]
        single = all(self._is_single(t, spec) for t, spec in zip(tensors, self._inputs))
        if single:  # one data point: run it as a batch of one, as fluxtorch models accept
            tensors = [t.unsqueeze(0) for t in tensors]
        feeds = {spec.name: self._feed(i, t, spec) for i, (t, spec) in enumerate(zip(tensors, self._inputs))}
        outputs = [torch.from_numpy(y).to(tensors[0].device) for y in self.session.run(None, feeds)]
        if single:
            outputs = [y.squeeze(0) for y in outputs]
        if len(xs) == 1 and hasattr(xs[0], "rewrap"):  # a Batch (or Seq) in gives one out, as in the model
            outputs = [xs[0].rewrap(y) for y in outputs]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    @staticmethod
    def _is_single(t: Tensor, spec: Any) -> bool:
        return t.dim() == len(spec.shape) - 1 and not isinstance(spec.shape[0], int)

    def _feed(self, i: int, t: Tensor, spec: Any) -> np.ndarray:
        wanted = _NUMPY.get(spec.type)
        shape = tuple(d if isinstance(d, int) else "batch" for d in spec.shape)
        fits = t.dim() == len(shape) and all(not isinstance(d, int) or d == n for d, n in zip(shape, t.shape))
        if not fits:
            raise ValueError(
                f"{self!r} expected input {i} of shape ({', '.join(map(str, shape))}), got "
                f"{tuple(t.shape)}. Fix: give data shaped like the example it was exported with."
            )
        array = t.detach().cpu().numpy()
        if wanted is not None and array.dtype != wanted:
            raise TypeError(
                f"{self!r} expected input {i} of dtype {np.dtype(wanted).name}, got {array.dtype}. "
                f"Fix: convert it, e.g. x.to(torch.{np.dtype(wanted).name})."
            )
        return array

    def save(self, path: str | os.PathLike) -> None:
        """Write the ONNX model to ``path`` (atomically), for any ONNX runtime."""
        from fluxtorch.storage._atomic import atomic_write

        atomic_write(path, lambda file: file.write(self.onnx_bytes))

    def __repr__(self) -> str:
        return f"OnnxModel({self._shown})"


def onnx(
    model: Callable[..., Any], example: Any, path: str | os.PathLike | None = None, *, dynamic_batch: bool = True
) -> OnnxModel:
    """``model`` converted to ONNX and run by ONNX Runtime; call the result like ``model``.

    ``example`` is an input (or a tuple of inputs) of the shape the model takes, a batch
    or one data point; with ``dynamic_batch`` the batch size may change from call to call.  ``path`` also
    writes the ``.onnx`` file.  Recurrent models run each call from their initial state,
    as ``unroll(..., stateful=False)`` does.  A layer that cannot be exported is named in a
    ``TypeError`` (e.g. ``Chain[2]``).

    >>> model = Chain(Input(4), Affine(3), relu, Affine(2), softmax)
    >>> runtime = onnx(model, torch.rand(5, 4))
    >>> x = torch.rand(7, 4)
    >>> bool((runtime(x) - model(x)).abs().max() < 1e-5)
    True
    """
    examples = tuple(to_tensor(x) for x in (example if isinstance(example, tuple) else (example,)))
    module = model if isinstance(model, nn.Module) else _AsModule(model)
    with _evaluating(module), torch.no_grad():
        expected = module(*examples)  # a model that fails on its example fails here, with fluxtorch's notes
        if dynamic_batch and _takes_batches(module, examples, expected):
            examples = tuple(x.unsqueeze(0) for x in examples)  # one data point: export for batches
        try:
            onnx_bytes = _export(module, examples, dynamic_batch)
        except Exception as err:  # noqa: BLE001 - reported with the layer that caused it
            where, layer, cause = _culprit(module, examples, type(model).__name__, err)
            raise ExportError(
                f"onnx cannot export {where}, {callable_name(layer)}: {_first_line(cause)}. Fix: write "
                f"that layer with torch operations that torch.export can trace (no Python control "
                f"flow on tensor values, no .item()), or leave it out of the exported model."
            ) from err
    runtime = OnnxModel(onnx_bytes, callable_name(model).split("  #")[0])
    if path is not None:
        runtime.save(path)
    return runtime


def _takes_batches(module: nn.Module, examples: tuple[Tensor, ...], expected: Any) -> bool:
    """Whether a model given one data point (1-D, or the shape its ``Input`` declares) also maps
    a batch of it to the batched result."""
    first = module[0] if isinstance(module, Chain) and len(module) else None
    point = first.shape if isinstance(first, Input) else None
    if not all(x.dim() == 1 or tuple(x.shape) == point for x in examples) or not isinstance(expected, Tensor):
        return False
    try:
        batched = module(*(x.unsqueeze(0) for x in examples))
    except Exception:  # noqa: BLE001 - a model that only takes single points is exported as it is
        return False
    return (
        isinstance(batched, Tensor) and batched.shape == (1, *expected.shape)
        and torch.allclose(batched[0], expected, atol=1e-6, equal_nan=True)
    )


class _AsModule(nn.Module):
    """A plain function as a module, so it can be exported."""

    def __init__(self, f: Callable[..., Any]) -> None:
        super().__init__()
        self.f = f
        self.train(False)

    def forward(self, *xs: Tensor) -> Any:
        return self.f(*xs)


def _export(module: nn.Module, examples: tuple[Tensor, ...], dynamic_batch: bool) -> bytes:
    batch = torch.export.Dim("batch")
    dynamic = tuple({0: batch} if dynamic_batch and x.dim() >= 2 else None for x in examples)
    with warnings.catch_warnings():
        # torch's own decompositions (e.g. of unbind, used by unrolled models) still call an API it deprecates
        warnings.filterwarnings("ignore", message="_check_is_size will be removed", category=FutureWarning)
        program = torch.onnx.export(
            module, examples, dynamo=True, verbose=False,
            dynamic_shapes=dynamic if any(dynamic) else None,
        )
    return program.model_proto.SerializeToString()


@contextlib.contextmanager
def _evaluating(module: nn.Module) -> Iterator[None]:
    """Export in eval mode and stateless, restoring each layer's mode afterwards.

    An ONNX graph cannot carry state from one call to the next, so stateful layers
    (``unroll(...)``) are traced as with ``stateful=False``: from the initial state, and
    without touching the state they carry.
    """
    stateful = [m for m in module.modules() if getattr(m, "stateful", None) is True and hasattr(m, "reset")]
    for m in stateful:
        m.stateful = False
    try:
        with evaluating(module):
            yield
    finally:
        for m in stateful:
            m.stateful = True


def _culprit(layer: Any, xs: tuple, path: str, err: Exception) -> tuple[str, Any, Exception]:
    """The innermost part of ``layer`` that fails to export on its own, with its path and error."""
    for child_path, child, child_xs in _parts(layer, xs, path):
        module = child if isinstance(child, nn.Module) else _AsModule(child)
        try:  # torch.export alone first: it fails faster than a whole ONNX export
            torch.export.export(module, child_xs, strict=False)
            _export(module, child_xs, False)
        except Exception as child_err:  # noqa: BLE001
            return _culprit(child, child_xs, child_path, child_err)
    return path, layer.f if isinstance(layer, _AsModule) else layer, err


def _parts(layer: Any, xs: tuple, path: str) -> list[tuple[str, Any, tuple]]:
    """Each direct part of ``layer`` with the inputs it receives on ``xs`` (found by running it)."""
    from fluxtorch.layers import Chain

    if isinstance(layer, Chain):
        parts, x = [], xs[0]
        for name, child in zip(layer._names, layer._layers):
            parts.append((f"{path}[{name}]" if name.isdigit() else f"{path}.{name}", child, (x,)))
            x = child(x)
        return parts
    if not isinstance(layer, nn.Module):
        return []
    seen: dict[str, tuple] = {}
    hooks = [
        child.register_forward_pre_hook(lambda _, args, name=name: seen.setdefault(name, args))
        for name, child in layer.named_children()
    ]
    try:
        layer(*xs)
    finally:
        for hook in hooks:
            hook.remove()
    children = dict(layer.named_children())
    return [
        (f"{path}.{name}", children[name], args) for name, args in seen.items()
        if args and all(isinstance(a, Tensor) for a in args)
    ]


def _first_line(err: BaseException) -> str:
    lines = [line for line in str(err).splitlines() if line.strip()]
    summary = next((l for l in lines if l.startswith("<class")), lines[0] if lines else type(err).__name__)
    return summary[:300]
