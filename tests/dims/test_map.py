"""``fluxtorch.map``: per-data-point functions vectorised with vmap; the builtin map still iterates."""

import builtins

import pytest
import torch

import fluxtorch
from fluxtorch import Affine, Batch, Seq, map


def test_map_is_exported_and_does_not_shadow_the_builtin_inside_fluxtorch() -> None:
    assert fluxtorch.map is map and map is not builtins.map
    assert "map" in fluxtorch.__all__
    import fluxtorch.layers._chain as chain_module

    assert "map" not in vars(chain_module)  # fluxtorch's own modules still see builtins.map


def test_flatten_each_image_matches_a_python_loop() -> None:
    xs = Batch([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])
    flat = map(torch.flatten, xs)
    assert isinstance(flat, Batch) and flat == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert flat == Batch([torch.flatten(x) for x in xs])


def test_the_function_runs_once_on_the_whole_batch_not_in_a_python_loop() -> None:
    calls = []

    def per_point(x):
        calls.append(tuple(x.shape))  # the shape of ONE data point, as the function sees it
        return x * x.sum()

    xs = Batch(torch.randn(1000, 3))
    ys = map(per_point, xs)
    assert calls == [(3,)]  # one call for 1000 data points
    assert torch.allclose(ys.raw, torch.stack([x * x.sum() for x in xs.raw]))


def test_builtin_map_iterates_data_points_like_a_list() -> None:
    xs = Batch([[1, 2, 3], [4, 5, 6]])
    assert list(builtins.map(lambda x: x.sum().item(), xs)) == [6.0, 15.0]


def test_non_batches_fall_back_to_the_builtin() -> None:
    assert list(map(str, [1, 2])) == ["1", "2"]
    assert list(map(lambda a, b: a + b, [1, 2], [10, 20])) == [11, 22]


def test_sequences_arrive_as_seqs_and_models_map_too() -> None:
    xs = Batch([Seq([[1, 0], [0, 1], [1, 1]]), Seq([[0, 0], [1, 0], [0, 1]])])
    lengths = map(lambda s: s.raw.sum(0) + len(s), xs)
    assert lengths == [[5, 5], [4, 4]]
    layer = Affine(2, 3)
    per_seq = map(lambda s: layer(s), xs)  # a Seq in gives a Seq out, inside map as outside
    assert isinstance(per_seq[0], Seq) and per_seq.shape == (2, 3, 3)
    assert torch.allclose(per_seq.raw, layer(xs.raw))


def test_several_batches_and_tuple_results() -> None:
    xs, ys = Batch([[1.0, 2.0], [3.0, 4.0]]), Batch([[10.0], [20.0]])
    sums, products = map(lambda x, y: (x + y, x * y), xs, ys)
    assert sums == [[11, 12], [23, 24]] and products == [[10, 20], [60, 80]]


def test_errors_say_what_to_do() -> None:
    xs = Batch([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(TypeError, match="not mixed with other iterables"):
        map(lambda x, y: x, xs, [1, 2])
    with pytest.raises(ValueError, match=r"lengths \[2, 3\]"):
        map(lambda x, y: x, xs, Batch([[1], [2], [3]]))
    with pytest.raises(TypeError, match="return a tensor"):
        map(lambda x: "text", xs)
    with pytest.raises(RuntimeError) as info:
        map(lambda x: x if x.sum().item() > 3 else -x, xs)
    assert any("use the builtin map" in note for note in info.value.__notes__)
