"""State: templates whose fields carry values from one step to the next (``y: State``).

The initial state is a parameter; while a recurrence driver runs the layer, each state's
current value is a plain instance attribute, so ``self.y`` reads the previous step's
value and assigning it sets this step's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from torch import Tensor

from fluxtorch._convert import at_edge
from fluxtorch._infer import _Uninferred
from fluxtorch._template import Template, _as_parameter


@dataclass
class Slot:
    """Marks a template with state as running: the batch its initial states broadcast to.

    Recurrence drivers (``unroll``) put one in ``module.__dict__["_slot"]`` for each
    stateful layer; ``over_time(module, xs)`` set means the layer is called on a whole
    sequence ``(batch, n, ...)`` rather than on one step.
    """

    batch: tuple[int, ...]
    over_time: Callable[[Any, Tensor], Tensor] | None = None
    ran: bool = False  # whether this run already gave the layer the whole sequence


class Stateful(Template):
    """Base of templates declaring ``State``: a step's values live in the instance dict.

    While a ``Slot`` is present, ``self.y`` is an ordinary instance attribute (the
    previous step's value, or this step's once assigned), so reading state costs what
    reading any attribute costs; the initial state stays an ``nn.Parameter`` in
    ``_parameters`` and is what ``self.y`` gives when no step is running.
    """

    _state_names: ClassVar[tuple[str, ...]] = ()

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._state_names:
            if "_slot" in self.__dict__:  # inside a step: this step's value
                self.__dict__[name] = value
                return
            if not isinstance(value, _Uninferred):  # outside: a new initial state
                value = _as_parameter(value, f"{type(self).__name__}.{name}", "State")
        super().__setattr__(name, value)

    def materialize(self, shape: tuple[int, ...], *, device: Any = None, dtype: Any = None) -> None:
        """As ``Template.materialize``; built during a run, the initial states still become parameters."""
        slot = self.__dict__.pop("_slot", None)
        try:
            super().materialize(shape, device=device, dtype=dtype)
        finally:
            if slot is not None:
                self.__dict__["_slot"] = slot

    def initial_state(self, name: str, batch: tuple[int, ...]) -> Tensor:
        """The trainable initial value of state ``name``, broadcast over ``batch``.

        >>> LSTM(3, 4).initial_state("y", (2,)).shape
        torch.Size([2, 4])
        """
        start = self._parameters[name]
        return start.expand(*batch, *start.shape) if batch else start


def _wrap_stateful(located: Callable[..., Any]) -> Callable[..., Any]:
    """A stateful template's forward: one step, reading and writing state in the instance dict."""

    def forward_step(self: Stateful, x: Any, *args: Any, **kwargs: Any) -> Any:
        slot = self.__dict__.get("_slot")
        if slot is None:
            return _single_step(self, forward_step, x, args, kwargs)
        if slot.over_time is not None:
            return slot.over_time(self, x)
        held = self.__dict__
        for name in self._state_names:
            if name not in held:  # first step: start from the initial state
                held[name] = self.initial_state(name, slot.batch)
        return located(self, x, *args, **kwargs)

    functools.update_wrapper(forward_step, located)
    forward_step.__wrapped__ = located.__wrapped__  # type: ignore[attr-defined]  # the user's code, for notes
    return forward_step


def _single_step(self: Stateful, step: Callable[..., Any], x: Any, args: tuple, kwargs: dict) -> Any:
    """A direct call, outside any recurrence driver: one step from the initial state."""
    if hasattr(x, "rewrap"):  # a Batch (or Seq) in gives a Batch out
        return x.rewrap(_single_step(self, step, x.raw, args, kwargs))
    if not isinstance(x, Tensor):
        x = at_edge(x, who=repr(self))
    batch = tuple(x.shape[:1]) if isinstance(x, Tensor) and x.dim() >= 2 else ()
    self.__dict__["_slot"] = Slot(batch)
    try:
        return step(self, x, *args, **kwargs)
    finally:
        for name in ("_slot", *self._state_names):
            self.__dict__.pop(name, None)


__all__ = ["Slot", "Stateful"]
