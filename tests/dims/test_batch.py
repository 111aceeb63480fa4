"""``Batch`` and ``Seq``: lists of data points backed by one stacked tensor; models keep them."""

import pickle

import numpy as np
import pytest
import torch

from fluxtorch import Affine, Batch, Chain, Model, Seq, batchone, net, rawbatch, relu, softmax, tobatch, unbatchone


def test_vectors_behave_like_a_list_and_stack_to_a_matrix() -> None:
    xs = Batch([[1, 2, 3], [4, 5, 6]])
    assert len(xs) == 2
    assert torch.equal(xs[0], torch.tensor([1.0, 2.0, 3.0])) and torch.equal(xs[-1], torch.tensor([4.0, 5.0, 6.0]))
    assert [p.tolist() for p in xs] == [[1, 2, 3], [4, 5, 6]]
    assert xs == [[1, 2, 3], [4, 5, 6]] and xs != [[1, 2, 3], [4, 5, 7]] and xs != [[1, 2, 3]]
    assert torch.equal(rawbatch(xs), torch.tensor([[1.0, 2, 3], [4, 5, 6]])) and rawbatch(xs) is xs.raw
    assert xs.shape == (2, 3) and xs.dtype == torch.get_default_dtype()
    assert repr(xs) == "2-element Batch of Tensor(3,):\n [1, 2, 3]\n [4, 5, 6]"


def test_images_stack_to_batch_by_height_by_width() -> None:
    xs = Batch([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])
    assert rawbatch(xs).shape == (2, 2, 2)
    assert torch.equal(xs[1], torch.tensor([[5.0, 6], [7, 8]]))
    assert repr(xs).splitlines()[0] == "2-element Batch of Tensor(2, 2):"


BASES = "ATCG"


def one_hot(dna: str) -> Seq:
    return Seq([[float(base == b) for b in BASES] for base in dna])


def test_nested_dna_sequences_give_batch_by_time_by_bases() -> None:
    x1, x2 = one_hot("TAG"), one_hot("CGC")
    assert rawbatch(x1).shape == (3, 4) and x1 == [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]]
    xs = Batch([x1, x2])
    assert rawbatch(xs).shape == (2, 3, 4)
    assert repr(xs).splitlines()[0] == "2-element Batch of Seq of Tensor(4,):"
    assert isinstance(xs[0], Seq) and xs[0] == x1 and xs[1] == x2
    assert torch.equal(xs[1][0], torch.tensor([0.0, 0, 1, 0]))  # C
    assert [len(s) for s in xs] == [3, 3]
    assert xs == [[[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], [[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 1, 0]]]
    assert xs != Batch([Batch(x1), Batch(x2)])  # same numbers, other structure


def test_tensors_arrays_and_slices() -> None:
    t = torch.arange(6).reshape(3, 2)
    xs = Batch(t)
    assert xs.raw is t and xs.dtype == torch.int64  # a tensor is already stacked: no copy, its dtype kept
    assert torch.equal(Batch([t[0], t[1], t[2]]).raw, t)
    assert Batch(np.ones((4, 2))).shape == (4, 2)
    part = xs[1:]
    assert isinstance(part, Batch) and part == [[2, 3], [4, 5]]
    assert xs[torch.tensor([2, 0])] == [[4, 5], [0, 1]]
    assert xs[2, 1].item() == 5 and xs[:, 0].tolist() == [0, 2, 4]  # inside the data points: the tensor's indexing
    restored = pickle.loads(pickle.dumps(Batch([Seq([[1, 2]]), Seq([[3, 4]])])))  # for DataLoader workers
    assert isinstance(restored[1], Seq) and restored == [[[1, 2]], [[3, 4]]]
    assert repr(Batch(torch.zeros(12, 1))).splitlines()[-1] == " ⋮"


def test_batchone_tobatch_unbatchone() -> None:
    one = batchone([1, 2, 3])
    assert isinstance(one, Batch) and one.shape == (1, 3) and one[0].tolist() == [1, 2, 3]
    xs = Batch([[1, 2], [3, 4]])
    assert batchone(xs) is xs
    assert tobatch([1, 2, 3]).shape == (1, 3) and tobatch(xs) is xs.raw
    assert unbatchone(one).tolist() == [1, 2, 3]
    assert unbatchone(tobatch([5, 6])).tolist() == [5, 6]
    seq_one = batchone(Seq([[1, 0], [0, 1]]))
    assert seq_one.shape == (1, 2, 2) and isinstance(unbatchone(seq_one), Seq)
    with pytest.raises(ValueError, match="batch of one data point, got 2"):
        unbatchone(xs)


def test_models_given_a_batch_return_a_batch() -> None:
    model = Chain(Affine(3, 4), relu, Affine(4, 2), softmax)
    xs = Batch([[1, 2, 3], [4, 5, 6]])
    ys = model(xs)
    assert isinstance(ys, Batch) and ys.shape == (2, 2)
    assert torch.equal(ys.raw, model(xs.raw))
    assert torch.allclose(ys[1], model(torch.tensor([4.0, 5, 6])))
    layer = Affine(3, 5)
    assert isinstance(layer(xs), Batch) and torch.equal(layer(xs).raw, layer(xs.raw))

    @net
    class TLP:
        first: Model
        second: Model

        def forward(self, x):
            return softmax(self.second(torch.sigmoid(self.first(x))))

    assert isinstance(TLP(Affine(3, 4), Affine(4, 2))(xs), Batch)


def test_a_batch_of_sequences_through_a_model_keeps_its_nesting() -> None:
    xs = Batch([one_hot("TAG"), one_hot("CGC")])
    ys = Chain(Affine(4, 5), relu)(xs)
    assert isinstance(ys, Batch) and isinstance(ys[0], Seq) and ys.shape == (2, 3, 5)
    last_steps = Chain(lambda x: x[:, -1])(xs)  # the time steps reduced: a Batch of vectors
    assert isinstance(last_steps, Batch) and last_steps == [[0, 0, 0, 1], [0, 0, 1, 0]]
    total = Chain(torch.sum)(xs)
    assert not isinstance(total, Batch) and total.item() == 6.0  # no batch dimension left: the raw output


def test_devices_and_dtypes_move_with_the_data() -> None:
    xs = Batch([one_hot("AT"), one_hot("GC")])
    doubled = xs.to(torch.float64)
    assert isinstance(doubled, Batch) and doubled.dtype == torch.float64 and isinstance(doubled[0], Seq)
    assert xs.cpu().device == torch.device("cpu") and xs.device.type == "cpu"


@pytest.mark.cuda
def test_cuda() -> None:
    xs = Batch([[1, 2], [3, 4]]).cuda()
    assert xs.device.type == "cuda" and xs.to("cpu") == [[1, 2], [3, 4]]


def test_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"data point 0 is a Tensor\(3,\), data point 1 is a Tensor\(2,\)"):
        Batch([torch.ones(3), torch.ones(2)])
    with pytest.raises(ValueError, match="same shape"):
        Batch([[1, 2, 3], [4, 5]])
    with pytest.raises(ValueError, match="at least one data point"):
        Batch([])
    with pytest.raises(ValueError, match=r"data point 1 is a Tensor\(2,\)"):
        Batch([Seq([[1, 2]]), torch.ones(2)])
    with pytest.raises(TypeError, match="expected a list of data points"):
        Seq("ATCG")
    with pytest.raises(TypeError, match="rawbatch expected a Batch"):
        rawbatch([1, 2])
    with pytest.raises(TypeError):
        hash(Batch([1, 2]))
