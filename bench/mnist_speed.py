"""Time to 98% on MNIST with the data held on the device: the seed's 784-128-64-10 MLP.

A tight loop (no DataLoader, no ``.item()`` per step): the training images sit on the
device as one tensor (standardised), each epoch shuffles them with ``randperm``, steps
through slices with fused Adam, a cosine learning rate and label smoothing 0.1 (worth
about a point of test accuracy for this MLP), and measures test accuracy after each
epoch.  Reports the first epoch at which the test accuracy reached the goal, with the
training seconds spent until then (evaluation excluded), or the best accuracy within
the time budget.

    python -m bench.mnist_speed --device cuda            # looks for MNIST (see find_mnist)
    python -m bench.mnist_speed --data DIR --json r.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from bench._models import mlp

ROOT = Path(__file__).resolve().parent.parent
MEAN, STD = 0.1307, 0.3081
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def places(data: str | None) -> list[Path]:
    """Where MNIST may be, most specific first: --data, $FLUXTORCH_DATA, the examples' cache, shared/."""
    found = [Path(data)] if data else []
    if os.environ.get("FLUXTORCH_DATA"):
        found.append(Path(os.environ["FLUXTORCH_DATA"]) / "mnist")
    found.append(Path.home() / ".cache" / "fluxtorch" / "mnist")
    for shared in (ROOT / "shared", ROOT.parent / "shared"):
        found += [shared / "data" / "mnist", shared / "data" / "mnist-t10k"]
    return found


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not) as a NumPy array of unsigned bytes."""
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def read_split(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Images ``(N, 784)`` scaled to [0, 1] and labels ``(N,)`` of one split, or None if absent."""
    paths = []
    for name in FILES[split]:
        candidates = [where / f for where in (folder, folder / "MNIST" / "raw") for f in (name, name + ".gz")]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            return None
        paths.append(path)
    x = torch.from_numpy(read_idx(paths[0]).copy()).reshape(-1, 784).float() / 255  # (N, 784)
    return x, torch.from_numpy(read_idx(paths[1]).copy()).long()


def mnist_folder(data: str | None) -> Path | None:
    """The first of ``places(data)`` holding at least the MNIST test files."""
    for folder in places(data):
        if all(any((where / f"{name}{gz}").is_file() for where in (folder, folder / "MNIST" / "raw") for gz in ("", ".gz"))
               for name in FILES["test"]):
            return folder
    return None


Split = tuple[torch.Tensor, torch.Tensor]  # images (N, 784) in [0, 1], labels (N,)


def find_mnist(data: str | None) -> tuple[Split, Split, str] | None:
    """(train, test, description), or None: full MNIST, else the t10k files split 8,000 / 2,000."""
    folder = mnist_folder(data)
    if folder is None:
        return None
    test, train = read_split(folder, "test"), read_split(folder, "train")
    if train is not None:
        return train, test, f"MNIST (60,000 / 10,000) from {folder}"
    x, y = test
    return (x[:8000], y[:8000]), (x[8000:], y[8000:]), f"MNIST t10k only, from {folder}: 8,000 train / 2,000 test"


def run(device: str, data: str | None, budget: float, goal: float, epochs: int, batch: int, lr: float) -> dict:
    found = find_mnist(data)
    if found is None:
        return {"status": "skipped", "why": "no MNIST files found in " + ", ".join(map(str, places(data)))}
    (x, y), (tx, ty), source = found
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    x, y, tx, ty = (t.to(device) for t in (x, y, tx, ty))
    x, tx = (x - MEAN) / STD, (tx - MEAN) / STD  # MNIST's pixel mean and standard deviation
    model = mlp([784, 128, 64, 10], final_relu=False).to(device)
    fused = {"fused": True} if device.startswith("cuda") else {}
    opt = torch.optim.Adam(model.parameters(), lr=lr, **fused)
    steps_per_epoch = math.ceil(len(y) / batch)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    trained, reached, best, curve = 0.0, None, 0.0, []
    for epoch in range(1, epochs + 1):
        sync()
        start = time.perf_counter()
        order = torch.randperm(len(y), device=device)
        xs, ys = x[order], y[order]
        for i in range(0, len(ys), batch):
            loss = F.cross_entropy(model(xs[i : i + batch]), ys[i : i + batch], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
        sync()
        trained += time.perf_counter() - start
        with torch.no_grad():
            acc = (model(tx).argmax(-1) == ty).float().mean().item()
        curve.append(round(acc, 4))
        best = max(best, acc)
        if reached is None and acc >= goal:
            reached = {"epoch": epoch, "seconds": round(trained, 3), "accuracy": round(acc, 4)}
            break
        if trained > budget:
            break
    return {
        "status": "ok", "source": source, "device": device, "goal": goal, "budget_s": budget,
        "reached": reached, "best_accuracy": round(best, 4), "epochs_run": len(curve),
        "train_seconds": round(trained, 3), "test_accuracy_per_epoch": curve, "batch": batch, "lr": lr,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.mnist_speed", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--data", help="folder of MNIST IDX files (or torchvision's MNIST root)")
    p.add_argument("--seconds", type=float, default=5.0, help="training-time budget (default 5)")
    p.add_argument("--goal", type=float, default=0.98, help="test accuracy to reach (default 0.98)")
    p.add_argument("--epochs", type=int, default=20, help="most epochs; also the cosine schedule's length")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--json", help="also write the result to this JSON file")
    args = p.parse_args(argv)
    result = run(args.device, args.data, args.seconds, args.goal, args.epochs, args.batch, args.lr)
    text = json.dumps(result)
    print(text)
    if args.json:
        Path(args.json).write_text(text, encoding="utf-8")
    return 0 if result["status"] != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())
