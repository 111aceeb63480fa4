"""Every example runs briefly (tiny settings), prints its final figure and writes its plot."""

import gzip
import importlib
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
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and fair to a shared machine
    yield importlib.import_module
    torch.set_num_threads(threads)


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
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(b"<html>not found</html>")
    with pytest.raises(SystemExit, match="is not an IDX file") as stopped:
        examples("mnist").main(["--data", str(tmp_path), "--epochs", "1"])
    assert str(stopped.value.code).startswith(f"--data {tmp_path}: ") and "\n" not in str(stopped.value.code)

def test_mnist_without_network_or_local_copy_says_so_in_one_line(examples, tmp_path: Path, monkeypatch) -> None:
    mnist = examples("mnist")
    monkeypatch.setattr(mnist, "CACHE", tmp_path)
    monkeypatch.setattr(mnist, "online", lambda timeout=2.0: False)
    said: list[str] = []
    _, (tx, _), source = mnist.load(None, False, 0, said.append)
    assert said == ["MNIST: no local copy and no network; training on scikit-learn's handwritten digits "
                    "instead (--data DIR for MNIST)"]
    assert source.startswith("scikit-learn digits") and tx.shape[1] == 784


def test_mnist_failed_download_falls_back_with_its_reason_on_the_same_line(examples, tmp_path: Path, monkeypatch, capsys) -> None:
    mnist = examples("mnist")
    monkeypatch.setattr(mnist, "CACHE", tmp_path)
    monkeypatch.setattr(mnist, "online", lambda timeout=2.0: True)
    import torchvision.datasets

    def unreachable(*args, **kwargs):
        raise OSError("<urlopen error\n timed out>")

    monkeypatch.setattr(torchvision.datasets, "MNIST", unreachable)
    said: list[str] = []
    mnist.load(None, False, 0, said.append)
    assert len(said) == 1 and "\n" not in said[0]
    assert said[0].startswith("MNIST: download failed (OSError: <urlopen error timed out>)") and "scikit-learn's handwritten digits" in said[0]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("device", "words"),
    [("gpu", "--device gpu: not a device name. Fix: --device cpu"),
     ("cuda", "--device cuda: CUDA is not available here. Fix: --device cpu.")],
)
def test_examples_refuse_an_unusable_device_in_one_line(examples, device: str, words: str) -> None:
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    for name in ("mnist", "char_rnn", "translation"):
        with pytest.raises(SystemExit) as stopped:
            examples(name).main(["--device", device, "--epochs", "1"])
        message = str(stopped.value.code)
        assert message.startswith(words) and "\n" not in message


# char_rnn


def test_char_rnn_trains_samples_saves_and_loads(examples, tmp_path: Path, capsys) -> None:
    char_rnn = examples("char_rnn")
    tiny = ["--chars", "4000", "--hidden", "16", "--nunroll", "10", "--nbatch", "4", "--sample", "40", "--device", "cpu"]
    result = char_rnn.main([*tiny, "--epochs", "2", "--plot", str(tmp_path / "c.png"), "--save", str(tmp_path / "c.pt")])
    out = capsys.readouterr().out
    assert "Chain(Input(" in out and "LSTM(16 => 16)" in out and "sample (temperature 0.7):" in out
    assert out.strip().splitlines()[-1] == f"validation loss: {result['validation_loss']:.4f} nats/char"
    assert len(result["sample"]) == 41 and len(result["val_losses"]) == 2
    assert result["history"].epochs[-1] < result["history"].epochs[0]  # it learns
    assert (tmp_path / "c.png").stat().st_size > 0
    again = char_rnn.main([*tiny, "--epochs", "0", "--load", str(tmp_path / "c.pt")])
    assert again["validation_loss"] == pytest.approx(result["validation_loss"], rel=0.05)
    same = char_rnn.main([*tiny[:2], "--nunroll", "10", "--nbatch", "4", "--epochs", "0", "--load", str(tmp_path / "c.pt")])
    assert same["validation_loss"] == again["validation_loss"]  # the checkpoint knows its --hidden
    checkpoint = torch.load(tmp_path / "c.pt", weights_only=True)
    torch.save({"alphabet": checkpoint["alphabet"], "state": checkpoint["state"]}, tmp_path / "old.pt")
    with pytest.raises(SystemExit, match="its weights do not fit this model \\(LSTMs of 256\\). Fix: pass the --hidden"):
        char_rnn.main([*tiny[:2], "--epochs", "0", "--load", str(tmp_path / "old.pt")])
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    for path, words in (("absent.pt", "cannot read a checkpoint there"), ("junk.pt", "cannot read a checkpoint there"),
                        ("other.pt", "not a char_rnn checkpoint")):
        with pytest.raises(SystemExit, match=f"--load {tmp_path / path}: {words}"):
            char_rnn.main([*tiny, "--epochs", "0", "--load", str(tmp_path / path)])


def test_char_rnn_reads_any_text_and_says_when_it_is_too_short(examples, tmp_path: Path) -> None:
    char_rnn = examples("char_rnn")
    (tmp_path / "t.txt").write_text("to be or not to be, that is the question. " * 20, encoding="utf-8")
    result = char_rnn.main(["--text", str(tmp_path / "t.txt"), "--hidden", "8", "--nunroll", "5", "--nbatch", "2",
                            "--epochs", "1", "--sample", "5", "--plot", str(tmp_path / "c.png"), "--device", "cpu"])
    assert set(result["sample"]) <= set("to be or not to be, that is the question. ")
    with pytest.raises(SystemExit, match="too few"):
        char_rnn.main(["--text", str(tmp_path / "t.txt"), "--chars", "50", "--epochs", "1"])
    (tmp_path / "b.bin").write_bytes(bytes([0xFF, 0xFE, 0x80]) * 10)
    for missing in (tmp_path / "absent.txt", tmp_path / "b.bin"):
        with pytest.raises(SystemExit, match=f"--text {missing}: cannot read it as UTF-8 text"):
            char_rnn.main(["--text", str(missing), "--epochs", "1", "--device", "cpu"])


def test_char_rnn_batches_continue_each_stream(examples) -> None:
    char_rnn = examples("char_rnn")
    codes = torch.arange(100)
    xs = char_rnn.getbatches(codes, 4, 5)  # 4 streams of 25, cut into 5-step sequences
    assert len(xs) == 5 and xs[0].shape == (4, 5)
    assert xs[0][1].tolist() == [25, 26, 27, 28, 29] and xs[1][1].tolist() == [30, 31, 32, 33, 34]


# translation


def test_translation_runs_tiny_and_writes_its_plot(examples, tmp_path: Path, capsys) -> None:
    translation = examples("translation")
    result = translation.main(["--length", "3", "--hidden", "16", "--steps", "10", "--batch", "8", "--epochs", "2",
                               "--plot", str(tmp_path / "t.png"), "--device", "cpu", "--no-progress"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("task: 3-word English number phrases -> French, reversed")
    assert lines[-1] == f"held-out token accuracy: {result['accuracy']:.4f}"
    assert 0 <= result["accuracy"] <= 1 and len(result["scores"]) == 2
    assert (tmp_path / "t.png").stat().st_size > 0


def test_translation_model_attends_both_ways(examples) -> None:
    translation = examples("translation")
    model = translation.build(4, 8)
    x, y = translation.phrases(5, 4, torch.Generator().manual_seed(0))
    assert y.tolist() == x.argmax(-1).flip(1).tolist()  # the task: reversed order, same word index
    out = model(x)
    assert out.shape == (5, 4, 10)
    torch.testing.assert_close(out.sum(-1), torch.ones(5, 4))
    changed = x.clone()
    changed[:, -1] = torch.eye(10)[(x[:, -1].argmax(-1) + 1) % 10]  # a different last word
    assert not torch.allclose(model(changed)[:, 0], out[:, 0])  # reaches the first output word


def test_translation_learns_short_phrases(examples, capsys) -> None:
    translation = examples("translation")
    result = translation.main(["--length", "3", "--hidden", "32", "--steps", "40", "--epochs", "10", "--target", "0.9",
                               "--plot", "/dev/null", "--device", "cpu", "--no-progress"])
    assert result["accuracy"] >= 0.9


def test_examples_refuse_negative_epochs_through_argparse(examples, capsys) -> None:
    with pytest.raises(SystemExit):
        examples("translation").main(["--epochs", "-1"])
    assert "argument --epochs: invalid count value: '-1'" in capsys.readouterr().err


def test_examples_end_with_their_figure_even_without_matplotlib(examples, tmp_path: Path, monkeypatch, capsys) -> None:
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    result = examples("translation").main(["--length", "3", "--hidden", "8", "--steps", "2", "--batch", "4", "--epochs", "1",
                                           "--plot", str(tmp_path / "t.png"), "--device", "cpu", "--no-progress"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2].endswith("; no curves plotted (matplotlib is not installed: pip install matplotlib)")
    assert lines[-1] == f"held-out token accuracy: {result['accuracy']:.4f}" and not (tmp_path / "t.png").exists()


def test_mnist_gives_up_on_a_silent_network_within_its_timeout(examples, monkeypatch) -> None:
    import socket
    import time

    def hangs(*args, **kwargs):  # a name lookup that takes its time, then fails
        time.sleep(2)
        raise OSError("no network")

    mnist = examples("mnist")
    monkeypatch.setattr(socket, "create_connection", hangs)
    began = time.perf_counter()
    assert mnist.online(timeout=0.2) is False
    assert time.perf_counter() - began < 1
