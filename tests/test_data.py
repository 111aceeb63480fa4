"""onehot/onecold, chunk, partition, sequences, batches and the IDX reader."""

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

from fluxtorch import batches, chunk, onecold, onehot, onehotbatch, partition, read_idx, sequences

MNIST = Path(__file__).resolve().parent.parent / ".." / "shared" / "data" / "mnist-t10k"


def test_onehot_and_its_dtype_first_form() -> None:
    assert torch.equal(onehot("c", "abc"), torch.tensor([0.0, 0.0, 1.0]))
    v = onehot(torch.float64, 3, [1, 2, 3, 4])
    assert v.dtype == torch.float64 and v.tolist() == [0, 0, 1, 0]
    with pytest.raises(ValueError, match="label 'z' is not among the 3 labels \\['a', 'b', 'c'\\]"):
        onehot("z", "abc")
    with pytest.raises(TypeError, match="\\(label, labels\\) or \\(dtype, label, labels\\)"):
        onehot("a")


def test_onehotbatch_matches_torch_one_hot() -> None:
    labels = list("xyz")
    text = "zyxxz"
    expected = torch.nn.functional.one_hot(torch.tensor([labels.index(c) for c in text]), 3).float()
    assert torch.equal(onehotbatch(text, labels), expected)
    assert onehotbatch(text, labels, dtype=torch.int64).dtype == torch.int64
    y = torch.tensor([2, 0, 1, 2])
    assert torch.equal(onehotbatch(y, range(3)), torch.nn.functional.one_hot(y, 3).float())  # tensor labels
    assert torch.equal(onehot(y[0], range(3)), torch.tensor([0.0, 0.0, 1.0]))


@given(st.lists(st.integers(0, 9), min_size=1, max_size=30))
def test_onecold_inverts_onehot(labels: list[int]) -> None:
    classes = list(range(10))
    assert [onecold(onehot(x, classes), classes) for x in labels] == labels
    assert onecold(onehotbatch(labels, classes), classes) == labels


def test_onecold_on_batches_arrays_and_bad_labels() -> None:
    scores = np.array([[0.1, 0.9], [0.8, 0.2]])
    assert onecold(scores, ["no", "yes"]) == ["yes", "no"]
    assert onecold(torch.zeros(2, 3, 4)) == [[0, 0, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match="scores for 2 labels but 3 labels"):
        onecold(torch.ones(2), "abc")
    with pytest.raises(ValueError, match="last dimension of labels"):
        onecold(torch.tensor(1.0))


@given(st.integers(1, 60), st.integers(1, 12))
def test_chunk_gives_n_nearly_equal_consecutive_parts(length: int, n: int) -> None:
    xs = list(range(length))
    if length < n:
        with pytest.raises(ValueError, match=f"cannot split {length} items into {n}"):
            chunk(xs, n)
        return
    parts = chunk(xs, n)
    assert len(parts) == n and sum(parts, []) == xs
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert [list(p) for p in chunk(torch.tensor(xs), n)] == parts  # same on tensors
    assert [list(p) for p in np.array_split(np.array(xs), n)] == parts  # NumPy's reference


@given(st.integers(0, 40), st.integers(1, 9))
def test_partition_and_sequences(length: int, n: int) -> None:
    xs = list(range(length))
    pieces = partition(xs, n)
    assert sum(pieces, []) == xs and all(len(p) == n for p in pieces[:-1])
    seqs = sequences(xs, n)
    assert len(seqs) == length // n and all(len(s) == n for s in seqs)
    assert sum(seqs, []) == xs[: len(seqs) * n]


def test_sequences_stacks_tensors_and_takes_generators() -> None:
    seqs = sequences((onehot(c, "ab") for c in "abbab"), 2)
    assert len(seqs) == 2 and seqs[0].shape == (2, 2)
    assert torch.equal(seqs[1], torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="positive int sequence length, got 0"):
        sequences("abc", 0)


def test_batches_zip_streams_into_batch_first_tensors() -> None:
    text, alphabet = "the quick brown fox jumps over", sorted(set("the quick brown fox jumps over"))
    streams = [sequences(onehotbatch(part, alphabet), 5) for part in chunk(text, 3)]
    out = batches(*streams)
    assert len(out) == 2 and out[0].shape == (3, 5, len(alphabet))  # (batch, time, features)
    assert "".join(onecold(out[0][1], alphabet)) == text[10:15]
    assert "".join(onecold(out[1][0], alphabet)) == text[5:10]
    with pytest.raises(TypeError, match="at least one stream"):
        batches()


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize(("dtype", "code"), [(np.uint8, 8), (np.int16, 11), (np.float32, 13)])
def test_read_idx_round_trips(tmp_path: Path, dtype, code: int) -> None:
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype is np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(idx_bytes(array, code))
    with gzip.open(tmp_path / "a.idx.gz", "wb") as f:
        f.write(idx_bytes(array, code))
    for name in ("a.idx", "a.idx.gz"):
        assert np.array_equal(read_idx(tmp_path / name).numpy(), array)


def test_read_idx_refuses_foreign_and_truncated_files(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="x.txt is not an IDX file"):
        read_idx(tmp_path / "x.txt")
    (tmp_path / "cut.idx").write_bytes(idx_bytes(np.zeros((3, 2), np.uint8), 8)[:-1])
    with pytest.raises(ValueError, match="cut.idx holds 17 bytes but its header promises shape \\(3, 2\\)"):
        read_idx(tmp_path / "cut.idx")
    with gzip.open(tmp_path / "cut.idx.gz", "wb") as f:
        f.write(b"\0" * 100)
    (tmp_path / "cut.idx.gz").write_bytes((tmp_path / "cut.idx.gz").read_bytes()[:-6])
    with pytest.raises(ValueError, match="could not read .*cut.idx.gz"):
        read_idx(tmp_path / "cut.idx.gz")
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "missing.idx")


@pytest.mark.skipif(not MNIST.is_dir(), reason="shared MNIST t10k files absent")
def test_read_idx_on_real_mnist() -> None:
    images = read_idx(MNIST / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(MNIST / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10_000, 28, 28) and images.dtype == torch.uint8
    assert torch.bincount(labels.long()).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
