"""``train``: Flux's ``train!`` on ``torch.optim``, with a progress bar, callbacks and a NaN guard."""

from __future__ import annotations

import itertools
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn

from fluxtorch._infer import uninferred_layers
from fluxtorch.backend._device import move
from fluxtorch.training._batch import as_pair, batch_size, device_of, is_pair
from fluxtorch.training._callbacks import Progress, StopTraining, as_callbacks, takes_argument, throttle
from fluxtorch.training._losses import mse


class NonFiniteLossError(FloatingPointError, ValueError, RuntimeError):
    """The loss became NaN or infinite; raised before that step changed any parameter.

    Caught by ``except`` on any of ``FloatingPointError``, ``ValueError`` or ``RuntimeError``.
    """


class History(list):
    """The loss of every step (a list of floats); ``epochs`` holds each epoch's mean.

    >>> losses = train(Affine(1, 1), [(torch.ones(1), torch.ones(1))] * 4, epochs=2, progress=False)
    >>> len(losses), len(losses.epochs)
    (8, 2)
    """

    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[float] = []


def train(
    model: Callable[[Any], Any],
    data: Iterable[Any],
    loss: Callable[[Tensor, Any], Tensor] = mse,
    opt: Any = None,
    epochs: int = 1,
    cb: Callable[..., Any] | Sequence[Callable[..., Any]] = (),
    *,
    lr: float | None = None,
    every: float = 5.0,
    device: Any = None,
    progress: bool = True,
    scaler: Any = None,
) -> History:
    """Fit ``model`` to ``data`` with ``loss`` and an optimizer; return the loss of every step.

    * ``data`` yields ``(x, y)`` pairs each epoch: a list, a ``DataLoader``, a ``zip``
      or a generator (a one-shot iterator is remembered during the first epoch and
      replayed afterwards, so it keeps its items in memory).  One ``(x, y)`` tuple is
      one step per epoch.
    * ``opt``: a ``torch.optim`` optimizer instance, or a class/factory called with the
      model's parameters (and ``lr=lr`` when ``lr`` is given); default
      ``SGD(lr=0.1)``.
    * ``cb``: callbacks (no argument, or one: a ``Progress``), run at most every
      ``every`` seconds (wrapped in ``throttle`` unless already throttled) and once more
      at the end of every epoch.
    * A callback may call ``stop()`` to end training early (the history is returned).
    * A NaN or infinite loss raises ``NonFiniteLossError`` (a ``FloatingPointError``,
      ``ValueError`` and ``RuntimeError``) naming epoch and step, before that step changes a parameter.
    * Batches move to ``device`` (default: the model's); ``device`` also moves the
      model.  Works under ``torch.autocast`` (pass a ``torch.amp.GradScaler`` as
      ``scaler`` for float16) and with ``DistributedDataParallel`` under ``torchrun``
      (the bar shows on rank 0; the loss is averaged over ranks).
    * ``progress``: a tqdm bar per epoch (on stderr) shows the loss and samples/s.

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
    data = _infer_sizes(model, [data] if is_pair(data) else data)
    device = torch.device(device) if device is not None else device_of(model)
    optimizer = _optimizer(model, opt, lr)
    callbacks = [c if isinstance(c, throttle) else throttle(c, every) for c in as_callbacks(cb)]
    if isinstance(model, nn.Module) and not model.training:  # layers a user froze in eval mode stay so
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
        wants = [takes_argument(c.f) for c in self.callbacks]
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
        shown = -math.inf  # the bar is updated only when it may redraw (tqdm's mininterval)
        step, value = 0, math.nan
        try:
            for step, pair in enumerate(source, 1):
                x, y = as_pair(pair, "train")
                x, y = move(x, self.device), move(y, self.device)
                value = _step(self, x, y, epoch, step)
                history.append(value)
                if bar is not None:
                    seen += batch_size(x)
                    now = time.perf_counter()
                    if now - shown >= bar.mininterval or step == bar.total:
                        shown = now
                        bar.set_postfix_str(f"loss={value:.4g}, {seen / (now - start):,.0f} samples/s", refresh=False)
                        bar.update(step - bar.n)
                for c, takes in zip(self.callbacks, wants):
                    c(Progress(epoch, step, value, history)) if takes else c()
        finally:
            if bar is not None:
                if step > bar.n:  # steps since the last redraw (data of unknown length)
                    bar.set_postfix_str(f"loss={value:.4g}", refresh=False)
                    bar.update(step - bar.n)
                bar.close()


def _stacked(v: Any) -> Any:
    """A ``Batch``/``Seq`` as its stacked tensor, so that any loss (torch's too) can take it."""
    if isinstance(v, Tensor):  # the common case, without a failed attribute lookup
        return v
    raw = getattr(v, "raw", None)
    return raw if isinstance(raw, Tensor) else v


def _step(loop: _Loop, x: Any, y: Any, epoch: int, step: int) -> float:
    """One optimisation step; checks the loss before anything touches the parameters."""
    optimizer, scaler, dist = loop.optimizer, loop.scaler, loop.dist
    optimizer.zero_grad(set_to_none=True)  # gradients only: the parameters stay as they are
    value = loop.loss(_stacked(loop.model(x)), _stacked(y))
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
    if scaler is not None:
        scaler.scale(value).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        value.backward()
        optimizer.step()
    if torch.is_autocast_enabled(loop.device.type):  # the next step must re-cast the new weights
        torch.clear_autocast_cache()
    return number


def _infer_sizes(model: Any, data: Iterable[Any]) -> Iterable[Any]:
    """Build size-inferred layers (``Affine(10)`` with no ``Input``) from the first batch.

    Returns the data to train on: a one-shot iterator gets its first pair put back.
    """
    if not isinstance(model, nn.Module) or not uninferred_layers(model):
        return data
    items = iter(data)
    try:
        first = next(items)
    except StopIteration:
        return data
    x, _ = as_pair(first, "train")
    with torch.no_grad():
        model(move(x, _known_device(model)))
    return itertools.chain([first], items) if isinstance(data, Iterator) else data


def _known_device(model: nn.Module) -> torch.device:
    """Where an uninferred model lives: its inferred parameters' device, else the CPU."""
    for module in model.modules():
        for t in (*module._parameters.values(), *module._buffers.values()):
            if t is not None:
                return t.device
    return torch.device("cpu")


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
    from tqdm import tqdm  # plain: tqdm.auto warns in notebooks without ipywidgets

    total = len(source) if hasattr(source, "__len__") else None
    live = getattr(sys.stderr, "isatty", lambda: False)()
    return tqdm(total=total, desc=f"epoch {epoch}/{epochs}", unit="step", dynamic_ncols=True, leave=True,
                mininterval=0.1 if live else 10.0)  # off a terminal (a log, a notebook): few redraws


def _distributed(model: Any) -> Any:
    """``torch.distributed`` when ``model`` is a DDP-wrapped model in a group of > 1 ranks."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        import torch.distributed as dist

        if dist.is_initialized() and dist.get_world_size() > 1:
            return dist
    return None
