"""Running a step model over a whole sequence: the machinery behind ``unroll`` and ``unroll1``.

A step model maps one time step ``(batch, features)`` to ``(batch, out)``; its
stateful layers (templates with ``State``) read last step's values.  ``over_time``
runs it over ``(batch, n, features)``, layer by layer where it can:

* a ``Chain`` runs each layer over the whole sequence in turn;
* a layer with no state anywhere inside runs once on all steps (time folded into batch);
* a stateful layer (or ``flip``) runs over the whole sequence: ``LSTM`` and
  ``Recurrent`` through torch's fused kernels (``_fused.py``), ``flip(m)`` as ``m`` on
  the reversed sequence, and any other template with state by stepping its forward
  ``n`` times;
* any other model (a stateless template holding recurrent layers, such as a
  bidirectional encoder) runs once with time folded into the batch, so its own
  operations see steps ``(batch * n, features)``, while each stateful layer it calls
  gets its input back as a sequence and runs over it as above.

A stateful layer met twice in one step (``Chain(lstm, lstm)``) would start its second
pass from the end of its first; ``unroll`` then runs the step model once per step.

A ``Run`` sets up a ``Slot`` in every stateful layer (the batch its initial states
broadcast to, and whether a call gets the whole sequence or one step), loads the
state carried from the previous call, and takes the last state back at the end.
Module hooks (and so ``shapes``/``summary``) see each layer's call on the whole sequence.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

from fluxtorch._naming import callable_name
from fluxtorch._state import Slot, Stateful
from fluxtorch.debug._notes import annotate
from fluxtorch.layers._chain import Chain
from fluxtorch.recurrent._flip import Flip
from fluxtorch.recurrent._fused import FUSED

Carry = dict[str, dict[str, Tensor]]


def over_time(model: Callable[..., Any], xs: Tensor) -> Tensor:
    """Run a step model over a whole sequence ``xs`` ``(batch, n, ...)`` → ``(batch, n, ...)``."""
    if isinstance(model, Chain):
        for i, layer in enumerate(model._layers):
            try:
                xs = over_time(layer, xs)
            except Exception as err:
                annotate(err, model, step=model._step(i), child=layer, x=xs)
                raise
        return xs
    if isinstance(model, (Stateful, Flip)):
        with _mode(model, whole_sequence):
            return model(xs)
    if not _is_recurrent(model):
        return _fold(model, xs)
    with _mode(model, _unfolded):  # its own operations see steps; the stateful layers in it, sequences
        return _fold(model, xs)


def step_through(model: Callable[..., Any], xs: Tensor) -> Tensor:
    """Any step model called once per step: what ``over_time`` computes, without its shortcuts."""
    return _step_through(model, xs, model)


def whole_sequence(layer: Stateful | Flip, xs: Tensor) -> Tensor:
    """What a stateful layer (or ``flip``) does when called on a whole sequence during ``unroll``."""
    slot = layer.__dict__["_slot"]
    if slot.ran:  # called twice in one step: its second call must see the first one's state
        raise CalledTwice(layer)
    slot.ran = True
    if isinstance(layer, Flip):
        return over_time(layer.model, xs.flip(1)).flip(1)
    fused = FUSED.get(type(layer))
    return fused(layer, xs) if fused is not None else _step_through(layer, xs, layer.forward)


def _unfolded(layer: Stateful | Flip, x: Tensor) -> Tensor:
    """A stateful layer inside a model run with time folded into the batch: ``(B * n, ...)`` in and out."""
    batch = layer.__dict__["_slot"].batch[0]
    return whole_sequence(layer, x.unflatten(0, (batch, -1))).flatten(0, 1)


class CalledTwice(Exception):
    """A stateful layer met twice in one step: the sequence must be run one step at a time."""


def _fold(model: Callable[..., Any], xs: Tensor) -> Tensor:
    """A model without state, on every step at once: time is folded into the batch."""
    batch, n = xs.shape[:2]
    try:
        ys = model(xs.flatten(0, 1))  # (B * n, ...)
    except Exception as err:
        err.add_note(
            f"unroll ran {callable_name(model)} on all {n} steps at once, time folded into the "
            f"batch: input {tuple(xs.shape)} became {(batch * n, *xs.shape[2:])}."
        )
        raise
    if not isinstance(ys, Tensor):
        raise TypeError(
            f"unroll runs {callable_name(model)} on every step and expected a tensor back, got "
            f"{type(ys).__name__}. Fix: make each layer of the step model return a tensor."
        )
    return ys.unflatten(0, (batch, n))


def _step_through(model: Any, xs: Tensor, step: Callable[[Tensor], Tensor]) -> Tensor:
    """``step`` (``model``, or a template's forward once hooks saw the whole sequence) once per step."""
    ys = []
    with _mode(model, None):
        for t, x in enumerate(xs.unbind(1)):  # unbind: its backward is one stack, not n full-size slices
            try:
                ys.append(step(x))
            except Exception as err:
                err.add_note(f"unroll was at step {t} (from 0) of {xs.shape[1]}, input {tuple(xs.shape)}.")
                raise
    return torch.stack(ys, 1)


def _is_recurrent(model: Any) -> bool:
    return isinstance(model, nn.Module) and any(isinstance(m, (Stateful, Flip)) for m in model.modules())


class _mode:
    """Within the block, the stateful layers inside ``model`` get whole sequences (or steps)."""

    def __init__(self, model: Any, runner: Callable[..., Tensor] | None) -> None:
        modules = model.modules() if isinstance(model, nn.Module) else ()
        self.slots = [m.__dict__["_slot"] for m in modules if "_slot" in m.__dict__]
        self.runner = runner

    def __enter__(self) -> None:
        self.saved = [slot.over_time for slot in self.slots]
        for slot in self.slots:
            slot.over_time = self.runner

    def __exit__(self, *exc: Any) -> None:
        for slot, saved in zip(self.slots, self.saved):
            slot.over_time = saved


class Run:
    """One call of a recurrence driver: slots in, carried state in; last state out (detached)."""

    def __init__(
        self, model: Any, batch: tuple[int, ...], carried: Carry, runner: Callable[..., Tensor] | None
    ) -> None:
        self.batch, self.carried, self.runner = batch, carried, runner
        modules = model.named_modules(remove_duplicate=False) if isinstance(model, nn.Module) else ()
        self.members: list[tuple[str, nn.Module]] = []
        self.shared = False  # a stateful layer found twice (Chain(lstm, lstm)) runs twice in every step
        for name, m in modules:
            if isinstance(m, (Stateful, Flip)):
                if any(m is member for _, member in self.members):
                    self.shared = True
                else:
                    self.members.append((name, m))
        self.last: Carry = {}

    @property
    def nested(self) -> bool:
        """Whether an enclosing run already drives these layers (``unroll1`` inside an unrolled template)."""
        return bool(self.members) and all("_slot" in m.__dict__ for _, m in self.members)

    def __enter__(self) -> Run:
        for _, m in self.members:
            if "_slot" in m.__dict__:
                raise RuntimeError(
                    f"{m!r} is already running in an enclosing unroll, so it cannot start a run of "
                    f"its own. Fix: call the step model itself inside the unrolled template (its "
                    f"state steps along with it), or give the inner unroll its own layers."
                )
        self.restart()
        return self

    def restart(self) -> None:
        """Fresh slots and the carried state (or none) in every stateful layer, as before the first step."""
        for name, m in self.members:
            for state in getattr(m, "_state_names", ()):
                m.__dict__.pop(state, None)
            m.__dict__["_slot"] = Slot(self.batch, self.runner)
            m.__dict__.update(self.carried.get(name, {}))

    def __exit__(self, *exc: Any) -> None:
        for name, m in self.members:
            held = m.__dict__
            held.pop("_slot", None)
            states = {s: held.pop(s) for s in getattr(m, "_state_names", ()) if s in held}
            if states:
                self.last[name] = {s: v.detach() for s, v in states.items()}
