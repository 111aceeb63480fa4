"""Recording a model's computation on data-free tensors: which layer or op ran, where, on what shapes.

``trace(model, shape)`` calls ``model`` on a fake tensor (meta storage: no data, no
FLOPs, no activation memory) while global module hooks record every module call and
a ``TorchFunctionMode`` records the torch ops called from the user's own code and the
plain-function steps of ``Chain``s.  The result is a tree of ``Call``s; ``shapes`` and
``summary`` print it.  The model runs in eval mode (shapes are the same; BatchNorm
then neither needs a batch of more than one nor updates its statistics) and is left
in the mode it was in.
"""

from __future__ import annotations

import linecache
import logging
import operator
import os
import sys
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.overrides import TorchFunctionMode

from fluxtorch._infer import is_pending
from fluxtorch._naming import callable_name, one_line
from fluxtorch._shape import NEEDS_VALUES, is_shape_only
from fluxtorch.debug._notes import _PACKAGE_DIR, _TORCH_DIR
_MODULE_CALL = {nn.Module._call_impl.__code__, nn.Module._wrapped_call_impl.__code__}
_SYMBOLS = {
    "__matmul__": "@", "__rmatmul__": "@", "__add__": "+", "__radd__": "+", "__sub__": "-",
    "__rsub__": "-", "__mul__": "*", "__rmul__": "*", "__truediv__": "/", "__rtruediv__": "/",
    "__pow__": "**", "__neg__": "-", "__getitem__": "[]", "matmul": "@", "add": "+", "mul": "*",
}


@dataclass
class Call:
    """One step of the computation: a layer call or a torch op, with the shapes that met."""

    label: str  # "[2] relu", ".second Affine(21 => 15)", "sigmoid", "@"
    layer: Any = None  # the module or function called (None for a torch op in user code)
    inputs: tuple = ()  # shapes of its tensor inputs
    output: Any = None  # shape of its output (a tuple of shapes for several); None if it failed
    site: tuple[str, int] | None = None  # the user's (file, line) that made the call
    error: BaseException | None = None
    children: list[Call] = field(default_factory=list)
    key: Any = None  # identifies the call a later op belongs to (merged into one step)
    cursor: int = 0  # for Chains: where the next step's position is searched from
    pending: str | None = None  # label prefix of a layer whose sizes this call infers: relabelled after

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass
class Trace:
    """The recorded computation of ``model`` on ``shape``: a root ``Call``, the output or error."""

    model: Any
    shape: tuple[int, ...]
    root: Call
    output: Any = None
    error: BaseException | None = None


def trace(model: Callable[..., Any], shape: tuple[int, ...], *, dtype: torch.dtype | None = None) -> Trace:
    """Run ``model`` on a data-free tensor of ``shape``, recording its calls; never raises."""
    device, dtype = _example_kind(model, dtype)
    root = Call(label="", layer=model, inputs=(shape,))
    recorder = _Recorder(root)
    result = Trace(model, shape, root)
    handles = [
        nn.modules.module.register_module_forward_pre_hook(recorder.enter),
        nn.modules.module.register_module_forward_hook(recorder.leave, always_call=True),
    ]
    saved = _snapshot(model)
    for module, _, _ in saved:  # eval mode: same shapes, and batch statistics are neither
        module.training = False  # needed (a batch of 1 works) nor updated
    quiet = logging.getLogger("torch._subclasses.fake_tensor")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # a shape error is the answer here, not a log line
    try:
        with torch.no_grad(), FakeTensorMode(allow_non_fake_inputs=True):
            x = torch.empty(shape, dtype=dtype, device=device)
            with recorder:
                result.output = shape_of(model(x))
    except Exception as err:  # the listing shows where and why; the caller decides to raise
        if isinstance(err, NEEDS_VALUES):
            err.add_note(
                "fluxtorch: shapes are computed on tensors that have no values, so code that looks "
                "at its data's values (`if` on a tensor, .item(), nonzero) cannot be followed past "
                "this point. Fix: run the model on real data to check the rest."
            )
        result.error = err
    finally:
        _restore(saved)
        quiet.setLevel(level)
        for handle in handles:
            handle.remove()
        _forget_frames(root)
    root.output = result.output
    return result


def as_shape(shape: Any, who: str) -> tuple[int, ...]:
    """``shape`` as a tuple of sizes (a single int is a 1-D shape); ``who`` names the caller in errors.

    >>> as_shape((5, 10), "shapes"), as_shape(3, "shapes")
    ((5, 10), (3,))
    """
    sizes = (shape,) if isinstance(shape, int) else shape
    fix = "Fix: pass the shape of the input, batch first, e.g. (5, 10) or x.shape for a tensor x."
    if isinstance(shape, Tensor):
        raise TypeError(f"{who} expected the input's shape, got a tensor of shape {tuple(shape.shape)}. {fix}")
    try:
        if isinstance(sizes, (str, bytes)) or any(isinstance(n, bool) for n in sizes):
            raise TypeError
        sizes = tuple(operator.index(n) for n in sizes)
    except TypeError:
        raise TypeError(f"{who} expected the input's shape as a tuple of int sizes, got {shape!r}. {fix}") from None
    if any(n < 0 for n in sizes):
        raise ValueError(f"{who} expected non-negative sizes in the input's shape, got {sizes}. {fix}")
    return sizes


def _example_kind(model: Any, dtype: torch.dtype | None) -> tuple[torch.device, torch.dtype]:
    """Device and dtype for the data-free input: those of the model's first floating parameter."""
    params = model.parameters() if isinstance(model, nn.Module) and not _pending(model) else ()
    first = next((p for p in params if p.is_floating_point()), None)
    device = first.device if first is not None else torch.device("cpu")
    return device, dtype or (first.dtype if first is not None else torch.get_default_dtype())


def _pending(model: nn.Module) -> bool:
    return any(is_pending(m) for m in model.modules())


def _snapshot(model: Any) -> list[tuple[nn.Module, dict, dict]]:
    """Each module's attributes (its training mode among them) and buffers, so what a
    forward stores can be put back."""
    modules = model.modules() if isinstance(model, nn.Module) else ()
    return [(m, dict(vars(m)), dict(m._buffers)) for m in modules]


def _restore(saved: list[tuple[nn.Module, dict, dict]]) -> None:
    """Undo what the data-free run stored in the model (recurrent state, caches): no fake
    tensor may stay behind to break the next call on real data."""
    for module, attributes, buffers in saved:
        module.training = attributes["training"]
        for name, value in list(vars(module).items()):
            if is_shape_only(value):
                if name in attributes:
                    module.__dict__[name] = attributes[name]
                else:
                    del module.__dict__[name]
        for name, value in list(module._buffers.items()):
            if is_shape_only(value):
                module._buffers[name] = buffers.get(name)


def _forget_frames(call: Call) -> None:
    call.key = None
    for child in call.children:
        _forget_frames(child)


def shape_of(x: Any) -> Any:
    """``x``'s shape as a tuple (tuples of shapes for tuples of tensors); None for non-tensors."""
    if isinstance(x, Tensor):
        return tuple(x.shape)
    raw = getattr(x, "raw", None)
    if isinstance(raw, Tensor):
        return tuple(raw.shape)
    if isinstance(x, (tuple, list)):
        shapes = tuple(shape_of(item) for item in x)
        return shapes if any(s is not None for s in shapes) else None
    return None


def _input_shapes(args: tuple) -> tuple:
    return tuple(s for s in (shape_of(a) for a in args) if s is not None)


class _Recorder(TorchFunctionMode):
    """Builds the ``Call`` tree from module hooks (layers) and torch function calls (ops)."""

    def __init__(self, root: Call) -> None:
        super().__init__()
        self.stack = [root]
        from fluxtorch.layers import Chain  # here, not at import: layers import the debug notes

        self.chain_type = Chain
        self.chain_code = Chain.forward.__code__

    # ---- layers: global forward hooks -----------------------------------------------
    def enter(self, module: nn.Module, args: tuple) -> None:
        parent = self.stack[-1]
        step = self._step_of(parent, module)
        call = Call(
            label=f"{step}{short_repr(module, 80)}",
            layer=module,
            inputs=_input_shapes(args),
            site=_caller_site(sys._getframe(1)),
        )
        if any(is_pending(m) for m in module.modules()):  # shown again once its sizes are known
            call.pending = step
        parent.children.append(call)
        self.stack.append(call)

    def leave(self, module: nn.Module, args: tuple, output: Any) -> None:
        if len(self.stack) < 2 or self.stack[-1].layer is not module:
            return
        call = self.stack.pop()
        if call.pending is not None:  # the layer's sizes are known now: show them
            call.label = f"{call.pending}{short_repr(module, 80)}"
        error = sys.exc_info()[1] if output is None else None  # torch calls this hook in its except block
        if error is not None:
            call.error = error
        else:
            call.output = shape_of(output)

    def _step_of(self, parent: Call, module: nn.Module) -> str:
        """How ``parent`` reaches ``module``: ``"[2] "`` in a Chain, ``".second "`` in a template."""
        owner = parent.layer
        if isinstance(owner, self.chain_type):
            layers = owner._layers
            for i in [*range(parent.cursor, len(layers)), *range(parent.cursor)]:
                if layers[i] is module:
                    parent.cursor = i + 1
                    name = owner._names[i]
                    return f"[{name}] " if name.isdigit() else f".{name} "
        if isinstance(owner, nn.Module):
            for name, child in owner._modules.items():
                if child is module:
                    return f".{name} "
            for name, child in owner.named_modules():  # deeper, as Parallel's layers: ".layers[0] "
                if child is module and name:
                    return "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in name.split(".")) + " "
        return ""

    # ---- ops: torch functions called from user code or as Chain steps ----------------
    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        where = self._attribute(sys._getframe(1))
        if where is None:
            return func(*args, **kwargs)
        try:
            out = func(*args, **kwargs)
        except Exception as err:
            self._record(func, args, where, None, err)
            raise
        if shape_of(out) is not None:
            self._record(func, args, where, shape_of(out), None)
        return out

    def _attribute(self, frame: FrameType | None) -> tuple | None:
        """Who an op belongs to, as ``(kind, frame, helper, chain)``: ``kind`` "user" for an op
        in the user's code at ``frame`` (inside a plain-function step of the Chain whose
        forward runs in ``chain``, if any), "step" for a fluxtorch function or torch function
        that is itself a step of ``chain``; ``helper`` the outermost fluxtorch function the op
        ran in.  None when the op runs inside a layer: the layer's own call records it."""
        helper = None
        while frame is not None:
            code = frame.f_code
            if code in _MODULE_CALL:
                return None
            filename = code.co_filename
            if code is self.chain_code:
                return ("step", frame, helper, frame)
            if filename.startswith(_PACKAGE_DIR):
                helper = frame
            elif not filename.startswith(_TORCH_DIR):
                return ("user", frame, helper, self._chain_of(frame.f_back))
            frame = frame.f_back
        return None

    def _chain_of(self, frame: FrameType | None) -> FrameType | None:
        """The Chain forward that called the user's function running in ``frame``'s callee."""
        while frame is not None and not frame.f_code.co_filename.startswith((_PACKAGE_DIR, _TORCH_DIR)):
            frame = frame.f_back
        return frame if frame is not None and frame.f_code is self.chain_code else None

    def _record(self, func: Any, args: tuple, where: tuple, output: Any, error: BaseException | None) -> None:
        kind, frame, helper, chain = where
        parent = self.stack[-1]
        step = self._step(parent, chain) if chain is not None else None
        if kind == "step":
            step.output, step.error = output, error
            return
        if step is not None:
            step.output, step.error, parent = output, error, step
        key = (helper, frame) if helper is not None else None  # frames, not ids: kept alive, never reused
        last = parent.children[-1] if parent.children else None
        if key is not None and last is not None and last.key == key:
            last.output, last.error = output, error
            return
        label = helper.f_code.co_name if helper is not None else _op_name(func)
        site = (frame.f_code.co_filename, frame.f_lineno)
        parent.children.append(Call(label, None, _input_shapes(args), output, site, error, key=key))

    def _step(self, parent: Call, chain: FrameType) -> Call:
        """The ``Call`` of the plain-function step that ``chain`` (a running Chain.forward) is at.

        Chain.forward's own locals say which: ``i`` its position, ``layer`` the function,
        ``x`` its input."""
        local = chain.f_locals
        i, layer = local.get("i"), local.get("layer")
        key = (chain, i)
        last = parent.children[-1] if parent.children else None
        if last is not None and last.key == key:
            return last
        owner = parent.layer
        name = owner._names[i] if isinstance(owner, self.chain_type) and isinstance(i, int) else str(i)
        label = f"[{name}] " if name.isdigit() else f".{name} "
        call = Call(label + _function_name(layer), layer, _input_shapes((local.get("x"),)), key=key)
        parent.children.append(call)
        return call


def _caller_site(frame: FrameType | None) -> tuple[str, int] | None:
    """The user's (file, line) that called the module whose hook runs in ``frame``'s callees."""
    seen_call = False
    while frame is not None:
        code = frame.f_code
        if code in _MODULE_CALL:
            seen_call = True
        elif seen_call and not code.co_filename.startswith(_TORCH_DIR):
            if code.co_filename.startswith(_PACKAGE_DIR):
                return None  # called by a Chain or a library layer: shown by its position
            return (code.co_filename, frame.f_lineno)
        frame = frame.f_back
    return None


def _op_name(func: Any) -> str:
    name = callable_name(func)  # σ as the user wrote it (and as a Chain shows it), not "sigmoid"
    return _SYMBOLS.get(name, name)


def _function_name(f: Any) -> str:
    return callable_name(f) if f is not None else "?"


def short_repr(model: Any, width: int = 60) -> str:
    """One line naming ``model`` as its repr does, cut to ``width`` characters."""
    inner = getattr(model, "_inner_repr", None)  # a Chain's one-line form
    text = inner() if callable(inner) else repr(model) if isinstance(model, nn.Module) else _function_name(model)
    first = one_line(text)
    return first if len(first) <= width else first[: width - 1] + "…"


def source_line(site: tuple[str, int]) -> str:
    """The stripped source text at ``site`` (empty when the file cannot be read)."""
    return linecache.getline(site[0], site[1]).strip()


def site_text(site: tuple[str, int]) -> str:
    """``file:line`` with the file relative to the working directory when it is inside it."""
    filename, line = site
    try:
        rel = os.path.relpath(filename)
        filename = rel if not rel.startswith("..") else filename
    except ValueError:
        pass
    return f"{filename}:{line}"
