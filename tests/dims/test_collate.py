"""``collate``: DataLoader batches as ``Batch``es (and ``Batch``es of ``Seq``s)."""

from typing import NamedTuple

import pytest
import torch
from torch.utils.data import DataLoader

from fluxtorch import Affine, Batch, Chain, Seq, collate, relu


def test_dataloader_of_pairs_yields_batches_matching_the_default_collate() -> None:
    data = [(torch.randn(3), i % 2) for i in range(10)]
    ours = list(DataLoader(data, batch_size=4, collate_fn=collate))
    reference = list(DataLoader(data, batch_size=4))
    assert [len(xs) for xs, _ in ours] == [4, 4, 2]
    for (xs, ys), (rx, ry) in zip(ours, reference):
        assert isinstance(xs, Batch) and isinstance(ys, Batch)
        assert torch.equal(xs.raw, rx) and torch.equal(ys.raw, ry) and ys.dtype == torch.int64


def test_sequences_collate_to_a_batch_of_seqs_that_models_take() -> None:
    data = [Seq(torch.randn(5, 4)) for _ in range(6)]
    xs = next(iter(DataLoader(data, batch_size=3, collate_fn=collate)))
    assert isinstance(xs, Batch) and isinstance(xs[0], Seq) and xs.shape == (3, 5, 4)
    ys = Chain(Affine(4, 2), relu)(xs)
    assert isinstance(ys[0], Seq) and ys.shape == (3, 5, 2)


def test_lists_dicts_and_named_tuples() -> None:
    class Sample(NamedTuple):
        x: list
        label: float

    got = collate([Sample([1, 2], 0.5), Sample([3, 4], 1.5)])
    assert isinstance(got, Sample) and got.x == [[1, 2], [3, 4]] and got.label == [0.5, 1.5]
    batch = collate([{"x": [1.0], "y": 2}, {"x": [3.0], "y": 4}])
    assert batch["x"] == [[1.0], [3.0]] and batch["y"].raw.tolist() == [2, 4]
    with pytest.raises(ValueError, match="at least one sample"):
        collate([])
