"""Every example runs briefly (tiny settings), prints its final figure and writes its plot."""

import gzip
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
MNIST_T10K = REPO / ".." / "shared" / "data" / "mnist-t10k"


@pytest.fixture
def examples(monkeypatch: pytest.MonkeyPatch):
    """Import an example module by name (examples/ is not a package: its scripts import _common)."""
    monkeypatch.syspath_prepend(str(REPO / "examples"))
    return importlib.import_module


def final_line(capsys: pytest.CaptureFixture) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


# mnist


def test_mnist_offline_trains_on_real_handwriting(examples, tmp_path: Path, capsys) -> None:
    mnist = examples("mnist")
    result = mnist.main(["--offline", "--epochs", "2", "--plot", str(tmp_path / "m.png"), "--device", "cpu"])
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].startswith("MNIST: --offline; training on scikit-learn's handwritten digits")
    assert "Chain(Input(784), Affine(784 => 128), relu, Affine(128 => 64), relu, Affine(64 => 10), softmax)" in out
    assert "before training: the first test image" in out and "after training" in out
    assert lines[-1] == f"test accuracy: {result['accuracy']:.4f}"
    assert result["accuracy"] > 0.85 and len(result["test_accuracy"]) == 2
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not MNIST_T10K.is_dir(), reason="shared MNIST t10k files absent")
def test_mnist_on_real_mnist_reaches_93_percent(examples, tmp_path: Path, capsys) -> None:
    mnist = examples("mnist")
    result = mnist.main(["--data", str(MNIST_T10K), "--epochs", "3", "--plot", str(tmp_path / "m.png"),
                         "--device", "cpu", "--no-progress"])
    assert "first 8,000 to train, last 2,000 to test" in result["source"]
    assert result["accuracy"] >= 0.93
    assert final_line(capsys) == f"test accuracy: {result['accuracy']:.4f}"


def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("layout", ["plain", "torchvision"])
def test_mnist_reads_a_folder_of_idx_files(examples, tmp_path: Path, layout: str) -> None:
    mnist = examples("mnist")
    folder = tmp_path / "MNIST" / "raw" if layout == "torchvision" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("t10k", 4)):
        write_idx(folder / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), gz=False)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 10, gz=True)
    (x, y), (tx, ty), source = mnist.from_folder(tmp_path)
    assert x.shape == (6, 784) and tx.shape == (4, 784) and 0 <= x.min() and x.max() <= 1
    assert y.tolist() == [0, 1, 2, 3, 4, 5] and ty.dtype == torch.long
    assert source == f"MNIST from {tmp_path}"


def test_mnist_says_what_is_missing_in_a_data_folder(examples, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no MNIST IDX files there"):
        examples("mnist").main(["--data", str(tmp_path), "--epochs", "1"])
