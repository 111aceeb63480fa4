"""``flip``: a step model run backwards in time, for bidirectional encoders.

``flip(m)`` is a marker that the recurrence drivers understand: when a run hands it
the whole sequence it runs ``m`` on the time-reversed sequence and reverses the
outputs back, so each output stays aligned with its input.  It cannot run one step
at a time, since its first output needs the last input.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import Tensor, nn

from fluxtorch._naming import callable_name
from fluxtorch.layers._chain import Chain


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
        reversed_call = getattr(self.model, "reversed_call", None)  # a sequence model: unroll(m, n)
        if slot is None and reversed_call is not None:
            return reversed_call(x)
        where = "in unroll1 or inside a step of a template with state" if slot is not None else "on its own"
        raise RuntimeError(
            f"{self!r} runs a whole sequence backwards, so it cannot run one step at a time "
            f"({where}). Fix: unroll it (unroll(flip(model), n)), put it in a Chain or a "
            f"stateless template that you unroll, or flip a sequence model: flip(unroll(model, n))."
        )

    def __repr__(self) -> str:
        return f"flip({shown(self.model)})"


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


def shown(model: Any) -> str:
    """How a wrapped step model is shown: like the code that built it, without a parameter count."""
    return model._inner_repr() if isinstance(model, Chain) else callable_name(model)
