"""``unroll``, ``unroll1`` and ``flip``: running step models over sequences.

A step model maps one time step ``(batch, features)`` to ``(batch, out)``; its
stateful layers (templates with ``State``) read last step's values.  ``unroll`` runs
it over ``(batch, n, features)``, layer by layer where it can:

* a ``Chain`` runs each layer over the whole sequence in turn;
* a layer with no state anywhere inside runs once on all steps (time folded into batch);
* any other model is called once on the whole sequence, and each stateful layer it
  calls (itself, or one inside a stateless template such as a bidirectional encoder)
  runs over that sequence: ``LSTM`` and ``Recurrent`` through torch's fused kernels
  (``_fused.py``), ``flip(m)`` as ``m`` on the reversed sequence, and any other
  template with state by stepping its forward ``n`` times.

Each call sets up a ``Slot`` in every stateful layer (the batch its initial states
broadcast to, and whether a call gets the whole sequence or one step), loads the
state carried from the previous call, and takes the last state back at the end.
Module hooks (and so ``shapes``/``summary``) see each layer's call on the whole sequence.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import torch
from torch import Tensor, nn

from fluxtorch._convert import to_tensor
from fluxtorch._naming import callable_name
from fluxtorch._template import Slot, Stateful, _require_inferred
from fluxtorch.debug._notes import annotate
from fluxtorch.layers._chain import Chain
from fluxtorch.recurrent._fused import FUSED

Carry = dict[str, dict[str, Tensor]]


class Flip(nn.Module):
    """Run ``model`` backwards in time, outputs aligned with their inputs.

    Built by ``flip(model)``; see there.
    """

    def __init__(self, model: Callable[..., Any]) -> None:
        super().__init__()
        if not callable(model):
            raise TypeError(
                f"flip expected a model (a callable), got {type(model).__name__}. Fix: flip(LSTM(10, 20))."
            )
        self.model = model

    def forward(self, x: Any) -> Tensor:
        slot = self.__dict__.get("_slot")
        if slot is not None and slot.over_time is not None:  # inside unroll, given the whole sequence
            return slot.over_time(self, x)
        if slot is None and isinstance(self.model, Unroll):
            xs = x if isinstance(x, Tensor) else to_tensor(x, who=repr(self))
            time = 1 if xs.dim() >= 3 else 0
            ys = self.model(xs.flip(time) if self.model.seq else xs)
            return ys.flip(1 if ys.dim() >= 3 else 0)
        where = "in unroll1 or inside a step of a template with state" if slot is not None else "on its own"
        raise RuntimeError(
            f"{self!r} runs a whole sequence backwards, so it cannot run one step at a time "
            f"({where}). Fix: unroll it (unroll(flip(model), n)), put it in a Chain or a "
            f"stateless template that you unroll, or flip a sequence model: flip(unroll(model, n))."
        )

    def __repr__(self) -> str:
        return f"flip({_shown(self.model)})"


class Unroll(nn.Module):
    """A step model run over ``n`` time steps; built by ``unroll(model, n)``, see there."""

    def __init__(self, model: Callable[..., Any], n: int, *, stateful: bool = True, seq: bool = True) -> None:
        super().__init__()
        _check_model(model, "unroll")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(
                f"unroll expected a positive number of steps n, got {n!r}. Fix: unroll(model, 50)."
            )
        self.model = model
        self.n, self.stateful, self.seq = n, stateful, seq
        self._carry: tuple[tuple, Carry] | None = None

    def forward(self, x: Any) -> Any:
        if hasattr(x, "rewrap"):  # a Batch of Seq in gives a Batch of Seq out
            return x.rewrap(self.forward(x.raw))
        xs = x if isinstance(x, Tensor) else to_tensor(x, who=repr(self))
        if self.seq:
            self._check_length(tuple(xs.shape))
        batched = xs.dim() >= (3 if self.seq else 2)
        xs = xs if batched else xs.unsqueeze(0)
        if not self.seq:  # the same input at every step
            xs = xs.unsqueeze(1).expand(xs.shape[0], self.n, *xs.shape[1:])
        key = (batched, xs.shape[0], xs.device, xs.dtype)
        carried = self._carry[1] if self.stateful and self._carry and self._carry[0] == key else {}
        try:
            with _Run(self.model, (xs.shape[0],), carried, _whole_sequence) as run:
                ys = over_time(self.model, xs)  # (B, n, out)
        except Exception as err:
            annotate(err, self, child=self.model, x=xs)
            raise
        if self.stateful:
            self._carry = (key, run.last)
        return ys if batched else ys.squeeze(0)

    def _check_length(self, shape: tuple[int, ...]) -> None:
        """A sequence input must be ``(batch, n, features)`` or ``(n, features)``."""
        length = shape[1] if len(shape) >= 3 else shape[0] if len(shape) == 2 else None
        if length == self.n:
            return
        steps = "no time dimension" if length is None else f"{length} time steps, not n = {self.n}"
        raise ValueError(
            f"{self!r} expected a sequence of shape (batch, {self.n}, features) or ({self.n}, "
            f"features), got shape {shape}: {steps}. Fix: cut or pad the sequences to {self.n} "
            f"steps, or unroll for the length you have (unroll(model, T)); to feed the same "
            f"input at every step use unroll(model, {self.n}, seq=False)."
        )

    def reset(self) -> None:
        """Forget the carried state: the next call starts from the initial state."""
        self._carry = None

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        """As ``nn.Module.parameters``; refused while a layer's size is uninferred."""
        _require_inferred(self)
        return super().parameters(recurse)

    def named_parameters(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, nn.Parameter]]:
        """As ``nn.Module.named_parameters``; refused while a layer's size is uninferred."""
        _require_inferred(self)
        return super().named_parameters(*args, **kwargs)

    def __repr__(self) -> str:
        options = ("" if self.stateful else ", stateful=False") + ("" if self.seq else ", seq=False")
        return f"unroll({_shown(self.model)}, {self.n}{options})"


class Unroll1(nn.Module):
    """A step model that keeps its state between calls; built by ``unroll1(model)``, see there."""

    def __init__(self, model: Callable[..., Any]) -> None:
        super().__init__()
        _check_model(model, "unroll1")
        self.model = model
        self._carry: tuple[tuple, Carry] | None = None

    def forward(self, x: Any) -> Any:
        if hasattr(x, "rewrap"):  # a Batch in gives a Batch out
            return x.rewrap(self.forward(x.raw))
        x = x if isinstance(x, Tensor) else to_tensor(x, who=repr(self))
        batch = tuple(x.shape[:1]) if x.dim() >= 2 else ()
        key = (batch, x.device, x.dtype)
        carried = self._carry[1] if self._carry and self._carry[0] == key else {}
        run = _Run(self.model, batch, carried, None)
        if run.nested:  # inside a template that unroll steps: its state steps with it
            return self.model(x)
        try:
            with run:
                y = self.model(x)
        except Exception as err:
            annotate(err, self, child=self.model, x=x)
            raise
        self._carry = (key, run.last)
        return y

    def reset(self) -> None:
        """Forget the carried state: the next call starts from the initial state."""
        self._carry = None

    def __repr__(self) -> str:
        return f"unroll1({_shown(self.model)})"


def unroll(model: Callable[..., Any], n: int, *, stateful: bool = True, seq: bool = True) -> Unroll:
    """Turn a step model into a model of sequences of ``n`` steps.

    ``model`` maps one step ``(batch, features)`` to ``(batch, out)``: a recurrent
    layer, a ``Chain`` mixing recurrent and feed-forward layers, any template.  The
    result maps ``(batch, n, features)`` (or ``(n, features)``, or a ``Seq`` / ``Batch``
    of ``Seq``) to ``(batch, n, out)``; gradients flow through all ``n`` steps.

    * ``stateful=True``: the last state is carried into the next call, detached from
      the graph (truncated backpropagation through time); ``reset()`` forgets it and a
      new batch size starts afresh.  ``stateful=False``: every call starts from the
      initial state.
    * ``seq=False``: the input ``(batch, features)`` is fed at every step.

    The step model stays reachable as ``.model``.

    >>> model = unroll(Chain(LSTM(3, 8), Affine(8, 2)), 5)
    >>> model(torch.randn(4, 5, 3)).shape
    torch.Size([4, 5, 2])
    >>> model.reset()
    >>> model.model[0]
    LSTM(3 => 8)
    """
    return Unroll(model, n, stateful=stateful, seq=seq)


def unroll1(model: Callable[..., Any]) -> Unroll1:
    """A stateful one-step model: each call is the next time step, ``(batch, features)`` → ``(batch, out)``.

    For sampling a sequence one token at a time; the state is carried between calls
    (detached from the graph, as in ``unroll``) until ``reset()``.

    >>> step = unroll1(Recurrent(3, 4))
    >>> first, second = step(torch.ones(2, 3)), step(torch.ones(2, 3))
    >>> bool((first != second).any())   # the second step starts from the first's state
    True
    >>> step.reset()
    >>> torch.equal(step(torch.ones(2, 3)), first)
    True
    """
    return Unroll1(model)


def flip(model: Callable[..., Any]) -> Flip:
    """Run ``model`` backwards in time: ``flip(m)`` sees the last step first.

    Outputs stay aligned with their inputs: step ``t``'s output is the reversed run's
    output for step ``t``.  ``flip`` of a step model (``flip(LSTM(4, 3))``) takes part
    in an ``unroll`` (directly, in a ``Chain``, or in a stateless template such as a
    bidirectional encoder); ``flip`` of an unrolled model runs on its own.

    >>> backward = flip(LSTM(4, 3))
    >>> xs = torch.randn(2, 6, 4)
    >>> ys = unroll(backward, 6)(xs)
    >>> torch.allclose(ys, unroll(backward.model, 6)(xs.flip(1)).flip(1))
    True
    """
    return Flip(model)


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
    if not _is_recurrent(model):
        return _fold(model, xs)
    with _mode(model, _whole_sequence):  # each stateful layer called inside gets the whole sequence
        return model(xs)


def _whole_sequence(layer: Stateful | Flip, xs: Tensor) -> Tensor:
    """What a stateful layer (or ``flip``) does when called on a whole sequence during ``unroll``."""
    if isinstance(layer, Flip):
        return over_time(layer.model, xs.flip(1)).flip(1)
    fused = FUSED.get(type(layer))
    return fused(layer, xs) if fused is not None else _step_through(layer, xs)


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


def _step_through(model: Stateful, xs: Tensor) -> Tensor:
    """A template with state: its forward, once per step (hooks saw the call on the whole sequence)."""
    ys = []
    with _mode(model, None):
        for t, x in enumerate(xs.unbind(1)):  # unbind: its backward is one stack, not n full-size slices
            try:
                ys.append(model.forward(x))
            except Exception as err:
                err.add_note(f"unroll was at step {t} (from 0) of {xs.shape[1]}, input {tuple(xs.shape)}.")
                raise
    return torch.stack(ys, 1)


def _is_recurrent(model: Any) -> bool:
    return isinstance(model, nn.Module) and any(isinstance(m, (Stateful, Flip)) for m in model.modules())


class _mode:
    """Within the block, the stateful layers inside ``model`` get whole sequences (or steps)."""

    def __init__(self, model: nn.Module, runner: Callable[..., Tensor] | None) -> None:
        self.slots = [m.__dict__["_slot"] for m in model.modules() if "_slot" in m.__dict__]
        self.runner = runner

    def __enter__(self) -> None:
        self.saved = [slot.over_time for slot in self.slots]
        for slot in self.slots:
            slot.over_time = self.runner

    def __exit__(self, *exc: Any) -> None:
        for slot, saved in zip(self.slots, self.saved):
            slot.over_time = saved


class _Run:
    """One call of a recurrence driver: slots in, carried state in; last state out (detached)."""

    def __init__(
        self, model: Any, batch: tuple[int, ...], carried: Carry, runner: Callable[..., Tensor] | None
    ) -> None:
        self.batch, self.carried, self.runner = batch, carried, runner
        modules = model.named_modules() if isinstance(model, nn.Module) else ()
        self.members = [(name, m) for name, m in modules if isinstance(m, (Stateful, Flip))]
        self.last: Carry = {}

    @property
    def nested(self) -> bool:
        """Whether an enclosing run already drives these layers (``unroll1`` inside an unrolled template)."""
        return bool(self.members) and all("_slot" in m.__dict__ for _, m in self.members)

    def __enter__(self) -> _Run:
        for _, m in self.members:
            if "_slot" in m.__dict__:
                raise RuntimeError(
                    f"{m!r} is already running in an enclosing unroll, so it cannot start a run of "
                    f"its own. Fix: call the step model itself inside the unrolled template (its "
                    f"state steps along with it), or give the inner unroll its own layers."
                )
        for name, m in self.members:
            m.__dict__["_slot"] = Slot(self.batch, self.runner)
            m.__dict__.update(self.carried.get(name, {}))
        return self

    def __exit__(self, *exc: Any) -> None:
        for name, m in self.members:
            held = m.__dict__
            held.pop("_slot", None)
            states = {s: held.pop(s) for s in getattr(m, "_state_names", ()) if s in held}
            if states:
                self.last[name] = {s: v.detach() for s, v in states.items()}


def _shown(model: Any) -> str:
    """How a wrapped step model is shown: like the code that built it, without a parameter count."""
    return model._inner_repr() if isinstance(model, Chain) else callable_name(model)


def _check_model(model: Any, who: str) -> None:
    if not callable(model):
        raise TypeError(
            f"{who} expected a step model (a layer such as LSTM(10, 20), a Chain or a function), "
            f"got {type(model).__name__}. Fix: {who}(LSTM(10, 20){', 50' if who == 'unroll' else ''})."
        )
