"""Training: ``train`` (Flux's ``train!``), losses, ``accuracy`` and ``throttle``d callbacks.

>>> torch.manual_seed(0)
<torch._C.Generator object at ...>
>>> x = torch.randn(64, 2)
>>> data = [(x, x.sum(1, keepdim=True))]         # one (x, y) pair per step
>>> history = train(Affine(2, 1), data, epochs=30, progress=False)
>>> history[0] > 100 * history[-1]
True
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn

from fluxtorch._convert import to_tensor


# Losses: (ŷ, y) -> scalar; data points along every dimension but the last (features).


def mse(ŷ: Tensor, y: Any) -> Tensor:
    """Mean squared error over every element: ``mean((ŷ - y)²)``.

    >>> mse(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]))
    tensor(2.)
    """
    y = y if isinstance(y, Tensor) else to_tensor(y, who="mse")
    if y.shape != ŷ.shape:
        raise ValueError(
            f"mse expected targets of the model's output shape {tuple(ŷ.shape)}, got "
            f"{tuple(y.shape)} (broadcasting them would silently compare every pair). "
            f"Fix: reshape the targets, e.g. y.reshape({tuple(ŷ.shape)})."
        )
    return ((ŷ - y.to(ŷ.dtype)) ** 2).mean()


def logloss(ŷ: Tensor, y: Any, *, eps: float = 1e-7) -> Tensor:
    """Cross entropy of probabilities ``ŷ`` (e.g. after ``softmax``) against targets ``y``.

    ``y`` holds one-hot rows (as in the seed) or class indices; the mean is over data
    points (every dimension but the last).  ``ŷ`` is clamped to ``[eps, 1]`` so a zero
    probability gives a large, finite loss instead of infinity.

    >>> p = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    >>> logloss(p, torch.tensor([[1.0, 0.0], [1.0, 0.0]]))        # -(log .5 + log .9) / 2
    tensor(0.3993)
    >>> logloss(p, torch.tensor([0, 0]))                          # the same, as indices
    tensor(0.3993)
    """
    logp = ŷ.clamp(min=eps).log()
    return -_pick(logp, y, "logloss").mean()


def logitcrossentropy(ŷ: Tensor, y: Any) -> Tensor:
    """Cross entropy of unnormalised scores (logits) ``ŷ``: ``logloss(softmax(ŷ), y)``, stably.

    The same as ``torch.nn.functional.cross_entropy`` with the classes in the last
    dimension; ``y`` holds one-hot rows or class indices.

    >>> z = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    >>> logitcrossentropy(z, torch.tensor([0, 1]))
    tensor(0.0878)
    >>> torch.nn.functional.cross_entropy(z, torch.tensor([0, 1]))
    tensor(0.0878)
    """
    return -_pick(torch.log_softmax(ŷ, -1), y, "logitcrossentropy").mean()


crossentropy = logitcrossentropy
"""``crossentropy``: PyTorch's meaning (takes logits), an alias of ``logitcrossentropy``."""


def _pick(logp: Tensor, y: Any, who: str) -> Tensor:
    """Per-data-point ``sum(y * logp)`` for one-hot ``y``, or ``logp[y]`` for class indices."""
    y = y if isinstance(y, Tensor) else to_tensor(y, who=who)
    if y.shape == logp.shape and (y.is_floating_point() or y.dtype == torch.bool):
        return (y.to(logp.dtype) * logp).sum(-1)
    if not y.is_floating_point() and y.shape == logp.shape[:-1]:
        return logp.gather(-1, y.to(logp.device, torch.long).unsqueeze(-1)).squeeze(-1)
    raise ValueError(
        f"{who} expected targets as one-hot rows of shape {tuple(logp.shape)} or class "
        f"indices (integers) of shape {tuple(logp.shape[:-1])}; got {y.dtype} of shape "
        f"{tuple(y.shape)}. Fix: pass onehotbatch(labels, classes) or a torch.long tensor "
        f"of class positions."
    )


def accuracy(model: Callable[[Any], Any], data: Any) -> float:
    """Fraction of data points whose ``onecold`` prediction matches the target.

    ``data`` is one ``(x, y)`` pair or an iterable of pairs; targets are one-hot rows
    (as in the seed) or class indices.  Runs without gradients, in eval mode, on the
    model's device.

    >>> model = Affine(torch.eye(2), torch.zeros(2))
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 2.0]])
    >>> accuracy(model, (x, torch.tensor([0, 1, 0])))
    0.6666666666666666
    >>> accuracy(model, [(x[:2], torch.eye(2)), (x[2:], torch.tensor([[0.0, 1.0]]))])
    1.0
    """
    pairs = [data] if _is_pair(data) else data
    device = _device_of(model)
    was_training = [(m, m.training) for m in _modules(model)]
    for m, _ in was_training:
        m.eval()
    right = total = 0
    try:
        with torch.no_grad():
            for pair in pairs:
                x, y = _as_pair(pair, "accuracy")
                ŷ = to_tensor(model(_to(x, device)), who="accuracy")
                y = to_tensor(y, who="accuracy").to(ŷ.device)
                predicted = ŷ.argmax(-1)
                wanted = y.argmax(-1) if y.shape == ŷ.shape and y.is_floating_point() else y
                if wanted.shape != predicted.shape:
                    raise ValueError(
                        f"accuracy: the model gave scores of shape {tuple(ŷ.shape)}, so targets "
                        f"must be one-hot rows of that shape or class indices of shape "
                        f"{tuple(predicted.shape)}; got shape {tuple(y.shape)}. Fix: pass targets "
                        f"as onehotbatch(labels, classes) or a tensor of class indices."
                    )
                right += int((predicted == wanted).sum())
                total += predicted.numel()
    finally:
        for m, mode in was_training:
            m.train(mode)
    if total == 0:
        raise ValueError("accuracy got no data points. Fix: pass an (x, y) pair or a non-empty list of them.")
    return right / total


# Callbacks


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
        now = self.clock()
        if self.last is not None and now - self.last < self.seconds:
            return None
        self.last = now
        return self.f(*args, **kwargs)

    def flush(self, *args: Any, **kwargs: Any) -> Any:
        """Call ``f`` now, and count this as its latest run."""
        self.last = self.clock()
        return self.f(*args, **kwargs)

    def __repr__(self) -> str:
        return f"throttle({getattr(self.f, '__name__', self.f)!s}, {self.seconds:g})"


@dataclass
class Progress:
    """What a callback that takes one argument receives: where training stands.

    ``epoch_end`` is true for the call made at the end of an epoch, so a callback can
    do per-epoch work (evaluate, save) with ``if p.epoch_end: ...``.
    """

    epoch: int
    step: int
    loss: float
    history: list[float] = field(repr=False)
    epoch_end: bool = False


class NonFiniteLossError(FloatingPointError, ValueError):
    """The loss became NaN or infinite; raised before that step changed any parameter."""


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


class History(list):
    """The loss of every step (a list of floats); ``epochs`` holds each epoch's mean."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[float] = []


# train


def train(
    model: Callable[[Any], Any],
    data: Iterable[Any],
    *,
    loss: Callable[[Tensor, Any], Tensor] = mse,
    opt: Any = None,
    lr: float | None = None,
    epochs: int = 1,
    cb: Callable[..., Any] | Sequence[Callable[..., Any]] = (),
    every: float = 5.0,
    device: Any = None,
    progress: bool = True,
    scaler: Any = None,
) -> History:
    """Fit ``model`` to ``data`` with ``loss`` and an optimizer; return the loss of every step.

    * ``data`` yields ``(x, y)`` pairs each epoch: a list, a ``DataLoader``, a ``zip``
      or a generator (a one-shot iterator is remembered during the first epoch and
      replayed afterwards, so it keeps its items in memory).
    * ``opt``: a ``torch.optim`` optimizer instance, or a class/factory called with the
      model's parameters (and ``lr=lr`` when ``lr`` is given); default
      ``SGD(lr=0.1)``.
    * ``cb``: callbacks (no argument, or one: a ``Progress``), run at most every
      ``every`` seconds (wrapped in ``throttle`` unless already throttled) and once more
      at the end of every epoch.
    * A callback may call ``stop()`` to end training early (the history is returned).
    * A NaN or infinite loss raises ``NonFiniteLossError`` (a ``FloatingPointError`` and
      a ``ValueError``) naming epoch and step, before that step changes a parameter.
    * Batches move to ``device`` (default: the model's); ``device`` also moves the
      model.  Works under ``torch.autocast`` (pass a ``torch.amp.GradScaler`` as
      ``scaler`` for float16) and with ``DistributedDataParallel`` under ``torchrun``
      (the bar shows on rank 0; the loss is averaged over ranks).
    * A tqdm bar shows loss and samples/s when ``progress`` and stderr is a terminal.

    >>> x = torch.randn(32, 3)
    >>> history = train(Affine(3, 1), zip([x] * 4, [x[:, :1]] * 4), opt=torch.optim.Adam,
    ...                 lr=0.05, epochs=3, progress=False)
    >>> len(history), len(history.epochs)
    (12, 3)
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"train expected epochs to be an int >= 0, got {epochs!r}. Fix: epochs=10.")
    if not callable(loss):
        raise TypeError(f"train expected loss to be a function (ŷ, y) -> scalar, got {type(loss).__name__}. Fix: loss=mse.")
    if device is not None and isinstance(model, nn.Module):
        model.to(device)
    device = torch.device(device) if device is not None else _device_of(model)
    optimizer = _optimizer(model, opt, lr)
    callbacks = [c if isinstance(c, throttle) else throttle(c, every) for c in _as_list(cb)]
    if isinstance(model, nn.Module):
        model.train()
    loop = _Loop(model, loss, optimizer, callbacks, device, progress, scaler, _distributed(model))
    history = History()
    try:
        loop.run(data, epochs, history)
    except StopTraining:
        pass
    return history


@dataclass
class _Loop:
    """The settings ``train`` resolved; ``run`` fills a ``History``."""

    model: Any
    loss: Callable[[Tensor, Any], Tensor]
    optimizer: torch.optim.Optimizer
    callbacks: list[throttle]
    device: torch.device
    progress: bool
    scaler: Any
    dist: Any

    def run(self, data: Iterable[Any], epochs: int, history: History) -> None:
        wants = [_takes_argument(c.f) for c in self.callbacks]
        replay = None
        for epoch in range(1, epochs + 1):
            if replay is None and epochs > 1 and isinstance(data, Iterator):
                replay = []  # a one-shot iterator: remember its pairs for the later epochs
                source = _remembering(data, replay)
            else:
                source = replay if replay is not None and epoch > 1 else data
            sampler = getattr(data, "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch - 1)  # DistributedSampler reshuffles per epoch
            first = len(history)
            self.epoch(source, epoch, epochs, history, wants)
            if len(history) == first:
                raise ValueError(
                    f"train: data yielded no (x, y) pairs in epoch {epoch}. Fix: pass a non-empty "
                    f"list, zip or DataLoader of (x, y) pairs."
                )
            history.epochs.append(math.fsum(history[first:]) / (len(history) - first))
            for c, takes in zip(self.callbacks, wants):
                c.flush(Progress(epoch, len(history) - first, history[-1], history, True)) if takes else c.flush()

    def epoch(self, source: Iterable[Any], epoch: int, epochs: int, history: History, wants: list[bool]) -> None:
        show = self.progress and (self.dist is None or self.dist.get_rank() == 0)
        bar = _bar(source, epoch, epochs) if show else None
        start, seen = time.perf_counter(), 0
        try:
            for step, pair in enumerate(source, 1):
                x, y = _as_pair(pair, "train")
                x, y = _to(x, self.device), _to(y, self.device)
                value = _step(self, x, y, epoch, step)
                history.append(value)
                if bar is not None:
                    seen += _batch_size(x)
                    bar.update()
                    bar.set_postfix_str(f"loss={value:.4g}, {seen / (time.perf_counter() - start):,.0f} samples/s", refresh=False)
                for c, takes in zip(self.callbacks, wants):
                    c(Progress(epoch, step, value, history)) if takes else c()
        finally:
            if bar is not None:
                bar.close()


def _step(loop: _Loop, x: Any, y: Any, epoch: int, step: int) -> float:
    """One optimisation step; checks the loss before anything touches the parameters."""
    optimizer, scaler, dist = loop.optimizer, loop.scaler, loop.dist
    value = loop.loss(loop.model(x), y)
    if not isinstance(value, Tensor) or value.numel() != 1:
        raise TypeError(
            f"train: loss must return a scalar tensor, got {type(value).__name__}"
            f"{' of shape ' + str(tuple(value.shape)) if isinstance(value, Tensor) else ''}. "
            f"Fix: reduce it, e.g. with .mean()."
        )
    if dist is None:
        number = value.item()
    else:  # one all-reduce: the mean loss over ranks, non-finite if any rank's is
        shown = value.detach().float().reshape(1).clone()
        dist.all_reduce(shown)
        number = shown.item() / dist.get_world_size()
    if not math.isfinite(number):
        raise NonFiniteLossError(
            f"train: the loss is {number} at epoch {epoch}, step {step}; training stopped before "
            f"this step changed any parameter. Fix: lower the learning rate, check the data for "
            f"NaN/inf, or use a numerically safe loss (logloss clamps, logitcrossentropy takes logits)."
        )
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(value).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        value.backward()
        optimizer.step()
    torch.clear_autocast_cache()  # under torch.autocast, the next step must re-cast the new weights
    return number


def _optimizer(model: Any, opt: Any, lr: float | None) -> torch.optim.Optimizer:
    if isinstance(opt, torch.optim.Optimizer):
        if lr is not None:
            raise ValueError("train got both an optimizer instance and lr. Fix: set lr when building the optimizer.")
        return opt
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    if not params:
        raise TypeError(
            f"train found no parameters in the model ({type(model).__name__}), so there is "
            f"nothing to train. Fix: pass a model with parameters (e.g. a Chain of Affine layers)."
        )
    if opt is None:
        return torch.optim.SGD(params, lr=0.1 if lr is None else lr)
    if callable(opt):
        built = opt(params) if lr is None else opt(params, lr=lr)
        if isinstance(built, torch.optim.Optimizer):
            return built
    raise TypeError(
        f"train expected opt to be a torch.optim optimizer or a class/function building one "
        f"from the parameters, got {type(opt).__name__}. Fix: opt=torch.optim.Adam or "
        f"opt=torch.optim.Adam(model.parameters(), lr=1e-3)."
    )


def _remembering(data: Iterable[Any], store: list) -> Iterable[Any]:
    for pair in data:
        store.append(pair)
        yield pair


def _bar(source: Any, epoch: int, epochs: int) -> Any:
    from tqdm.auto import tqdm

    total = len(source) if hasattr(source, "__len__") else None
    bar = tqdm(total=total, desc=f"epoch {epoch}/{epochs}", unit="step", dynamic_ncols=True, leave=True, disable=None)
    return None if bar.disable else bar


def _as_list(cb: Any) -> list[Callable[..., Any]]:
    cbs = [cb] if callable(cb) else list(cb)
    for c in cbs:
        if not callable(c):
            raise TypeError(f"train expected callbacks (functions), got {type(c).__name__}. Fix: cb=[lambda: print('hi')].")
    return cbs


def _takes_argument(f: Callable[..., Any]) -> bool:
    """Whether callback ``f`` wants the ``Progress`` argument (it has a required positional one)."""
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return False
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.kind in kinds and p.default is p.empty for p in params) or any(
        p.kind is inspect.Parameter.VAR_POSITIONAL for p in params
    )


def _is_pair(data: Any) -> bool:
    """``(x, y)`` itself rather than a collection of pairs (whose items are tuples)."""
    return isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], tuple)


def _as_pair(pair: Any, who: str) -> tuple[Any, Any]:
    if isinstance(pair, (tuple, list)) and len(pair) == 2:
        return pair[0], pair[1]
    raise TypeError(
        f"{who} expected data to yield (x, y) pairs, got {type(pair).__name__}"
        f"{' of length ' + str(len(pair)) if hasattr(pair, '__len__') else ''}. "
        f"Fix: pass e.g. list(zip(xs, ys)) or a DataLoader of (x, y)."
    )


def _modules(model: Any) -> list[nn.Module]:
    return list(model.modules()) if isinstance(model, nn.Module) else []


def _device_of(model: Any) -> torch.device:
    if isinstance(model, nn.Module):
        for t in model.parameters():
            return t.device
        for t in model.buffers():
            return t.device
    return torch.device("cpu")


def _to(x: Any, device: torch.device) -> Any:
    """Move a batch (a tensor, a Batch/Seq, or tuples/lists/dicts of them) to ``device``."""
    if isinstance(x, Tensor) or (hasattr(x, "to") and not isinstance(x, type)):
        return x.to(device, non_blocking=True) if isinstance(x, Tensor) else x.to(device)
    if isinstance(x, (tuple, list)):
        return type(x)(_to(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _to(v, device) for k, v in x.items()}
    return x


def _batch_size(x: Any) -> int:
    raw = getattr(x, "raw", x)
    return raw.shape[0] if isinstance(raw, Tensor) and raw.dim() > 1 else 1


def _distributed(model: Any) -> Any:
    """``torch.distributed`` when ``model`` is a DDP-wrapped model in a group of > 1 ranks."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        import torch.distributed as dist

        if dist.is_initialized() and dist.get_world_size() > 1:
            return dist
    return None


__all__ = [
    "History", "NonFiniteLossError", "Progress", "StopTraining", "accuracy", "crossentropy", "logitcrossentropy",
    "logloss", "mse", "stop", "throttle", "train",
]
