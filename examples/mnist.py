"""MNIST: the seed's 784-128-64-10 MLP, trained with ``fluxtorch.train``.

    python examples/mnist.py                  # MNIST via torchvision (downloaded once), else offline digits
    python examples/mnist.py --data DIR       # a folder of the IDX files (or torchvision's MNIST root)
    python examples/mnist.py --offline        # scikit-learn's 8x8 digits, resized to 28x28: no network
    torchrun --nproc_per_node=2 examples/mnist.py --ddp

Prints the model, a prediction before and after training (``onecold``), writes a PNG
of the training curves and ends with one line: ``test accuracy: 0.9xxx``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from _common import loss_curves, parser, plot, start
from fluxtorch import Affine, Chain, Input, accuracy, logloss, onecold, onehotbatch, read_idx, relu, softmax, train

FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
CACHE = Path(os.environ.get("FLUXTORCH_DATA", Path.home() / ".cache" / "fluxtorch")) / "mnist"
MIRROR = ("ossci-datasets.s3.amazonaws.com", 443)  # torchvision's first MNIST mirror

Split = tuple[torch.Tensor, torch.Tensor]  # images (N, 784) in [0, 1], labels (N,) int64


def find(folder: Path, name: str) -> Path | None:
    """``name`` or ``name.gz`` in ``folder``, or in torchvision's ``MNIST/raw`` layout below it."""
    for where in (folder, folder / "MNIST" / "raw", folder / "raw"):
        for path in (where / name, where / f"{name}.gz"):
            if path.is_file():
                return path
    return None


def read_split(folder: Path, split: str) -> Split | None:
    images, labels = (find(folder, name) for name in FILES[split])
    if images is None or labels is None:
        return None
    x = read_idx(images).reshape(-1, 28 * 28).float() / 255  # (N, 784)
    return x, read_idx(labels).long()


def from_folder(folder: Path) -> tuple[Split, Split, str] | None:
    """Train and test splits from IDX files; with only the t10k files, its first 8,000 / last 2,000."""
    train_split, test_split = read_split(folder, "train"), read_split(folder, "test")
    if test_split is None:
        return None
    if train_split is None:
        x, y = test_split
        return (x[:8000], y[:8000]), (x[8000:], y[8000:]), f"MNIST t10k from {folder}: first 8,000 to train, last 2,000 to test"
    return train_split, test_split, f"MNIST from {folder}"


def online(timeout: float = 2.0) -> bool:
    """Whether the MNIST mirror answers within ``timeout`` seconds (no long hang offline).

    The name lookup has no timeout of its own, so the attempt runs in a daemon thread
    that is simply left behind when it takes longer.
    """
    answered: list[bool] = []

    def reach() -> None:
        try:
            socket.create_connection(MIRROR, timeout=timeout).close()
            answered.append(True)
        except OSError:
            pass

    attempt = threading.Thread(target=reach, daemon=True)
    attempt.start()
    attempt.join(timeout)
    return bool(answered)


def download(root: Path) -> str | None:
    """Fetch MNIST into ``root`` with torchvision; ``None`` when done, else why not (one line)."""
    try:
        from torchvision.datasets import MNIST

        for train_split in (True, False):
            MNIST(str(root), train=train_split, download=True)
        return None
    except Exception as err:  # any failure (network, disk, torchvision missing) falls back
        return f"download failed ({type(err).__name__}: {' '.join(str(err).split())[:120]})"


def digits(seed: int) -> tuple[Split, Split, str]:
    """scikit-learn's 1,797 real handwritten 8x8 digits, drawn as MNIST: 20x20 centred in 28x28."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit(
            "MNIST: no local copy, no network, and scikit-learn (which ships the offline digits) is not "
            "installed. Fix: pip install scikit-learn, or --data DIR with the MNIST IDX files."
        ) from None

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16  # (N, 1, 8, 8)
    x = F.pad(F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False), (4, 4, 4, 4))
    x, y = x.reshape(-1, 28 * 28), torch.tensor(d.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    x, y, cut = x[order], y[order], 1437  # 80% to train
    return (x[:cut], y[:cut]), (x[cut:], y[cut:]), "scikit-learn digits (1,797 handwritten, 8x8 resized to 28x28)"


def cached() -> tuple[Split, Split, str] | None:
    """The splits in the download cache, or a one-line exit when a file there is damaged."""
    try:
        return from_folder(CACHE)
    except ValueError as err:
        raise SystemExit(f"MNIST: the copy in {CACHE} is damaged: {err} (delete the folder to download again)") from None


def load(data: str | None, offline: bool, seed: int, say=print) -> tuple[Split, Split, str]:
    if data is not None:
        try:
            found = from_folder(Path(data))
        except ValueError as err:  # read_idx: a truncated or foreign file, named with the fix
            raise SystemExit(f"--data {data}: {err}") from None
        if found is None:
            raise SystemExit(
                f"--data {data}: no MNIST IDX files there (looked for t10k-images-idx3-ubyte[.gz] "
                f"and t10k-labels-idx1-ubyte[.gz], also under MNIST/raw). Fix: point at the folder holding them."
            )
        return found
    found = cached()
    why = "--offline" if offline else "no local copy and no network"
    if found is None and not offline and online():
        why = download(CACHE) or why
        found = cached()
    if found is None:
        say(f"MNIST: {why}; training on scikit-learn's handwritten digits instead (--data DIR for MNIST)")
        return digits(seed)
    return found


def build() -> Chain:
    return Chain(Input(784), Affine(128), relu, Affine(64), relu, Affine(10), softmax)


def main(argv: Sequence[str] | None = None) -> dict:
    p = parser(__doc__.splitlines()[0], epochs=10, plot="mnist.png")
    p.add_argument("--data", help="folder of MNIST IDX files (.gz or not), or torchvision's MNIST root")
    p.add_argument("--offline", action="store_true", help="skip MNIST: train on scikit-learn's digits")
    p.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (default 1e-3)")
    args = p.parse_args(argv)
    run = start(args)
    if run.world > 1 and not run.main:
        torch.distributed.barrier()  # rank 0 downloads first
    (x, y), (tx, ty), source = load(args.data, args.offline, args.seed, run.say)
    if run.world > 1 and run.main:
        torch.distributed.barrier()
    run.say(f"data: {source}; {len(y):,} to train, {len(ty):,} to test")

    model = build()
    run.say(model)
    first = tx[0]
    run.say(f"before training: the first test image, a {int(ty[0])}, is predicted as {onecold(model(first))}")

    shuffle = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(TensorDataset(x, onehotbatch(y.tolist(), range(10))), batch_size=args.batch, shuffle=True, generator=shuffle)
    if run.world > 1:
        sampler = torch.utils.data.DistributedSampler(loader.dataset, seed=args.seed)
        loader = DataLoader(loader.dataset, batch_size=args.batch, sampler=sampler)
    net = run.wrap(model)
    test_acc: list[float] = []

    def evaluate(progress) -> None:  # after every epoch: test accuracy for the curves
        if progress.epoch_end:
            test_acc.append(accuracy(model, (tx, ty)))

    began = time.perf_counter()
    history = train(net, loader, loss=logloss, opt=torch.optim.Adam, lr=args.lr, epochs=args.epochs,
                    cb=evaluate, progress=args.progress)
    seconds = time.perf_counter() - began
    model.cpu()
    run.say(f"after training: the first test image, a {int(ty[0])}, is predicted as {onecold(model(first))}")
    final = accuracy(model, (tx, ty))
    if run.main:
        epochs = list(range(1, args.epochs + 1))
        plotted = plot(args.plot, f"MNIST MLP: {source}", {
            "training loss (logloss)": loss_curves(history),
            "test accuracy": {"test": (epochs, test_acc)},
        })
        print(f"{args.epochs} epoch{'s' if args.epochs != 1 else ''} in {seconds:.1f} s; {plotted}")
        print(f"test accuracy: {final:.4f}")
    run.finish()
    return {"accuracy": final, "history": history, "test_accuracy": test_acc, "seconds": seconds, "source": source}


if __name__ == "__main__":
    main()
