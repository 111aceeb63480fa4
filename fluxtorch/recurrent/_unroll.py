"""``unroll`` and ``unroll1``: a step model made into a model of sequences, or of one step at a time.

Both keep the state a call ends with and start the next call from it (detached from
the graph, as truncated backpropagation through time does) until ``reset()``; how a
sequence is run is ``_run.py``'s business.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

from fluxtorch._convert import to_tensor
from fluxtorch._infer import InferringModule
from fluxtorch.debug._notes import annotate
from fluxtorch.recurrent._flip import shown
from fluxtorch.recurrent._run import CalledTwice, Carry, Run, over_time, step_through, whole_sequence


class Unroll(InferringModule):
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
        stateful = self.stateful and not torch.compiler.is_exporting()  # an exported graph keeps no state
        carried = self._carry[1] if stateful and self._carry and self._carry[0] == key else {}
        try:
            with Run(self.model, (xs.shape[0],), carried, whole_sequence) as run:
                ys = _run_over(self.model, xs, run)  # (B, n, out)
        except Exception as err:
            annotate(err, self, child=self.model, x=xs)
            raise
        if stateful:
            self._carry = (key, run.last)
        return ys if batched else ys.squeeze(0)

    def reversed_call(self, x: Any) -> Tensor:
        """This model on the time-reversed input, outputs reversed back: what ``flip(self)`` computes."""
        xs = x if isinstance(x, Tensor) else to_tensor(x, who=f"flip({self!r})")
        time = 1 if xs.dim() >= 3 else 0
        ys = self(xs.flip(time) if self.seq else xs)
        return ys.flip(1 if ys.dim() >= 3 else 0)

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

    def __repr__(self) -> str:
        options = ("" if self.stateful else ", stateful=False") + ("" if self.seq else ", seq=False")
        return f"unroll({shown(self.model)}, {self.n}{options})"


class Unroll1(nn.Module):
    """A step model that keeps its state between calls; built by ``unroll1(model)``, see there."""

    def __init__(self, model: Callable[..., Any]) -> None:
        super().__init__()
        _check_model(model, "unroll1")
        if isinstance(model, (Unroll, Unroll1)):
            raise TypeError(
                f"unroll1 expected a step model, got {model!r}, which already runs "
                f"{'whole sequences' if isinstance(model, Unroll) else 'one step at a time'}. "
                f"Fix: step the model inside it, unroll1(m.model)."
            )
        self.model = model
        self._carry: tuple[tuple, Carry] | None = None

    def forward(self, x: Any) -> Any:
        if hasattr(x, "rewrap"):  # a Batch in gives a Batch out
            return x.rewrap(self.forward(x.raw))
        x = x if isinstance(x, Tensor) else to_tensor(x, who=repr(self))
        batch = tuple(x.shape[:1]) if x.dim() >= 2 else ()
        key = (batch, x.device, x.dtype)
        exporting = torch.compiler.is_exporting()  # an exported graph keeps no state: each call is a first step
        carried = self._carry[1] if self._carry and self._carry[0] == key and not exporting else {}
        run = Run(self.model, batch, carried, None)
        if run.nested:  # inside a template that unroll steps: its state steps with it
            return self.model(x)
        try:
            with run:
                y = self.model(x)
        except Exception as err:
            annotate(err, self, child=self.model, x=x)
            raise
        if not exporting:
            self._carry = (key, run.last)
        return y

    def reset(self) -> None:
        """Forget the carried state: the next call starts from the initial state."""
        self._carry = None

    def __repr__(self) -> str:
        return f"unroll1({shown(self.model)})"


def _run_over(model: Callable[..., Any], xs: Tensor, run: Run) -> Tensor:
    """``model`` over ``xs``: layer by layer, or one step at a time when a stateful layer runs twice a step."""
    if run.shared:
        return step_through(model, xs)
    try:
        return over_time(model, xs)
    except CalledTwice:  # found only when it happened (a template calling one layer twice)
        run.restart()
        return step_through(model, xs)


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

    ``torch.export`` (and so ``onnx``) captures a call from the initial state: an
    exported graph holds no state between calls.

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


def _check_model(model: Any, who: str) -> None:
    if not callable(model):
        raise TypeError(
            f"{who} expected a step model (a layer such as LSTM(10, 20), a Chain or a function), "
            f"got {type(model).__name__}. Fix: {who}(LSTM(10, 20){', 50' if who == 'unroll' else ''})."
        )
