"""What every example shares: command-line options, seeds, device, DDP set-up and the plot."""

from __future__ import annotations

import argparse
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn


def count(text: str) -> int:
    """An int >= 0 from the command line; argparse reports anything else in one line."""
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def parser(description: str, *, epochs: int, plot: str) -> argparse.ArgumentParser:
    """An argument parser with the options every example takes."""
    p = argparse.ArgumentParser(description=description.replace("``", ""))  # docstring markup off the terminal
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="where to train (default: cuda when available, else cpu)")
    p.add_argument("--epochs", type=count, default=epochs, help=f"passes over the data (default {epochs})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--plot", default=plot, help=f"PNG file for the training curves (default {plot})")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")
    p.add_argument("--ddp", action="store_true",
                   help="data-parallel training; launch with torchrun --nproc_per_node=N")
    return p


@dataclass
class Run:
    """Where this process trains: its device and, under ``--ddp``, its rank among ``world``."""

    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Whether this process reports (prints, plots, saves): rank 0."""
        return self.rank == 0

    def say(self, *args: Any) -> None:
        if self.main:
            print(*args, flush=True)

    def wrap(self, model: nn.Module, **ddp: Any) -> nn.Module:
        """``model`` on this run's device, inside ``DistributedDataParallel(model, **ddp)`` under ``--ddp``."""
        model = model.to(self.device)
        if self.world == 1 and not torch.distributed.is_initialized():
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids, **ddp)

    def shard(self, items: Sequence[Any]) -> list[Any]:
        """This rank's share of a list of batches (every ``world``-th one, equal counts)."""
        usable = len(items) - len(items) % self.world
        return list(items[self.rank : usable : self.world])

    def finish(self) -> None:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def pick_device(name: str) -> torch.device:
    """The device ``--device name`` means, or a one-line exit saying why it cannot be used."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SystemExit(f"--device {name}: not a device name. Fix: --device cpu, --device cuda or --device cuda:0.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: CUDA is not available here. Fix: --device cpu.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise SystemExit(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s). Fix: --device cuda:0.")
    return device


def start(args: argparse.Namespace) -> Run:
    """Seed every generator and pick the device; under ``--ddp`` join the process group."""
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    if not args.ddp:
        return Run(device)
    if "RANK" not in os.environ:
        raise SystemExit("--ddp needs torchrun: torchrun --nproc_per_node=2 examples/<name>.py --ddp ...")
    local = int(os.environ.get("LOCAL_RANK", 0))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Run(device, torch.distributed.get_rank(), torch.distributed.get_world_size())


def plot(path: str | Path, title: str, panels: dict[str, dict[str, tuple[Sequence[float], Sequence[float]]]]) -> str:
    """Save one row of panels, each ``{"curve label": (xs, ys)}``, as a PNG; says where, for the log.

    Without matplotlib the run still ends with its figure: the plot is skipped and the
    words say so.
    """
    try:
        import matplotlib
    except ImportError:
        return "no curves plotted (matplotlib is not installed: pip install matplotlib)"

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (name, curves) in zip(axes[0], panels.items()):
        for label, (xs, ys) in curves.items():
            ax.plot(xs, ys, label=label, marker="o" if len(xs) < 30 else None)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"curves in {path}"


def loss_curves(history: Any) -> dict[str, tuple[list[float], list[float]]]:
    """A ``train`` history as plot curves against epochs: every step, and each epoch's mean."""
    steps = len(history) / max(len(history.epochs), 1)
    return {
        "step": ([(i + 1) / steps for i in range(len(history))], list(history)),
        "epoch mean": (list(range(1, len(history.epochs) + 1)), list(history.epochs)),
    }
