"""Callbacks: ``throttle`` (Flux's ``@cb`` rate limit), the ``Progress`` they receive, and ``stop``."""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import Any, Callable


class throttle:
    """``f`` called at most once every ``seconds``, as Flux's ``throttle`` / ``@cb``.

    The first call runs; later calls within ``seconds`` of the last run are skipped.
    ``flush(...)`` calls ``f`` now regardless (``train`` does so at every epoch end).
    ``clock`` is a function returning seconds (default ``time.monotonic``).

    >>> now = [0.0]
    >>> shout = throttle(lambda: print("checkpoint"), 5, clock=lambda: now[0])
    >>> shout(); now[0] = 3; shout(); now[0] = 6; shout()
    checkpoint
    checkpoint
    """

    def __init__(self, f: Callable[..., Any], seconds: float, *, clock: Callable[[], float] | None = None) -> None:
        if not callable(f):
            raise TypeError(f"throttle expected a function to call, got {type(f).__name__}. Fix: throttle(lambda: print(loss), 5).")
        if not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"throttle expected a number of seconds >= 0, got {seconds!r}. Fix: throttle(f, 5).")
        self.f, self.seconds = f, float(seconds)
        self.clock = clock or time.monotonic
        self.last: float | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``f(*args, **kwargs)`` unless it ran less than ``seconds`` ago (then None)."""
        now = self.clock()
        if self.last is not None and now - self.last < self.seconds:
            return None
        self.last = now
        return self.f(*args, **kwargs)

    def flush(self, *args: Any, **kwargs: Any) -> Any:
        """Call ``f`` now, and count this as its latest run.

        >>> shout = throttle(lambda: print("now"), 60)
        >>> shout(); shout.flush()
        now
        now
        """
        self.last = self.clock()
        return self.f(*args, **kwargs)

    def __repr__(self) -> str:
        return f"throttle({getattr(self.f, '__name__', self.f)!s}, {self.seconds:g})"


@dataclass
class Progress:
    """What a callback that takes one argument receives: where training stands.

    ``epoch_end`` is true for the call made at the end of an epoch, so a callback can
    do per-epoch work (evaluate, save) with ``if p.epoch_end: ...``.

    >>> seen = []
    >>> _ = train(Affine(1, 1), [(torch.ones(1), torch.ones(1))] * 2, cb=seen.append, progress=False)
    >>> seen[-1]
    Progress(epoch=1, step=2, loss=..., epoch_end=True)
    """

    epoch: int
    step: int
    loss: float
    history: list[float] = field(repr=False)
    epoch_end: bool = False


class StopTraining(Exception):
    """Raised by ``stop()`` in a callback: ``train`` ends early and returns its history."""


def stop() -> None:
    """End training from a callback, as Flux's ``Flux.stop()``: ``train`` returns normally.

    >>> losses = train(Affine(1, 1), [(torch.ones(1), torch.ones(1))] * 5, epochs=10,
    ...                cb=lambda p: p.epoch_end and stop(), progress=False)
    >>> len(losses), len(losses.epochs)
    (5, 1)
    """
    raise StopTraining()


def as_callbacks(cb: Any) -> list[Callable[..., Any]]:
    cbs = [cb] if callable(cb) else list(cb)
    for c in cbs:
        if not callable(c):
            raise TypeError(f"train expected callbacks (functions), got {type(c).__name__}. Fix: cb=[lambda: print('hi')].")
    return cbs


def takes_argument(f: Callable[..., Any]) -> bool:
    """Whether callback ``f`` wants the ``Progress`` argument (it has a required positional one)."""
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return False
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.kind in kinds and p.default is p.empty for p in params) or any(
        p.kind is inspect.Parameter.VAR_POSITIONAL for p in params
    )
