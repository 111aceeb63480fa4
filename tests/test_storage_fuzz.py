"""Fuzzing ``load``: truncated, bit-flipped, random and hostile files give ``LoadError`` and nothing else."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest
import torch

from fluxtorch import Affine, Chain, Input, LoadError, load, load_weights, relu, save, softmax
from fluxtorch.storage import _format

SEED = 20170502


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "good.safetensors"
    torch.manual_seed(0)
    save(Chain(Input(3), Affine(4), relu, Affine(2), softmax), path)
    return path.read_bytes()


def only_load_error(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    with pytest.raises(LoadError, match="cannot load"):
        load(path)


def test_every_truncation_is_a_load_error(tmp_path: Path, good: bytes) -> None:
    path = tmp_path / "cut.safetensors"
    lengths = sorted(set(range(0, len(good), max(1, len(good) // 400))))
    for length in lengths:
        only_load_error(path, good[:length])
    assert len(lengths) >= 400


def test_every_bit_flip_is_a_load_error(tmp_path: Path, good: bytes) -> None:
    rng = random.Random(SEED)
    path = tmp_path / "flip.safetensors"
    for _ in range(500):
        data = bytearray(good)
        position = rng.randrange(len(data))
        data[position] ^= 1 << rng.randrange(8)
        only_load_error(path, bytes(data))


def test_random_files_are_load_errors(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    path = tmp_path / "noise.safetensors"
    for i in range(200):
        body = rng.randbytes(rng.randrange(0, 300))
        if i % 2:  # a plausible header size, so the JSON parser and the validation are reached
            body = struct.pack("<Q", rng.randrange(0, len(body) + 1)) + body
        only_load_error(path, body)


def hostile_headers(rng: random.Random) -> list:
    entry = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    return [
        [], "x", 3, {"a": 1}, {"a": {"dtype": "F32"}}, {"a": {**entry, "dtype": "Q9"}},
        {"a": {**entry, "shape": [-1]}}, {"a": {**entry, "shape": [2**40, 2**40, 0]}},
        {"a": {**entry, "data_offsets": [8, 0]}}, {"a": {**entry, "data_offsets": [0, 2**70]}},
        {"a": {**entry, "shape": [True, 2]}}, {"a": entry, "b": entry},
        {"__metadata__": {"x": 1}, "a": entry}, {"__metadata__": []},
        {"a": {**entry, "shape": [rng.randrange(0, 10**6) for _ in range(rng.randrange(1, 5))]}},
    ]


def test_hostile_headers_are_load_errors(tmp_path: Path) -> None:
    rng = random.Random(SEED + 2)
    path = tmp_path / "hostile.safetensors"
    for header in hostile_headers(rng) * 10:
        text = json.dumps(header).encode()
        only_load_error(path, struct.pack("<Q", len(text)) + text + bytes(8))
    deep = b"[" * 100_000 + b"]" * 100_000
    only_load_error(path, struct.pack("<Q", len(deep)) + deep)


def mutate(node, rng: random.Random):
    """Replace one random part of a JSON architecture with a random JSON value."""
    junk = [None, 0, -1, 1.5, "x", "torch.exp", [], {}, {"ref": 5}, {"function": "builtins.eval"},
            {"template": "fluxtorch.layers._affine.Affine", "fields": []}, {"tuple": [1, 2]},
            {"param": "missing", "grad": True}, {"module": "torch.nn.Linear", "args": [], "state": []},
            {"dtype": "float32"}, {"float": "1e400"}, [["0", {"ref": 0}]]]
    if isinstance(node, (dict, list)) and node and rng.random() < 0.8:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = rng.choice(keys)
        copy = dict(node) if isinstance(node, dict) else list(node)
        copy[key] = mutate(node[key], rng)
        return copy
    return rng.choice(junk)


def test_well_formed_files_with_hostile_architectures(tmp_path: Path, good: bytes) -> None:
    """A valid checksum over a broken architecture: rebuilding fails as LoadError, or succeeds."""
    rng = random.Random(SEED + 3)
    path = tmp_path / "arch.safetensors"
    path.write_bytes(good)
    metadata, tensors = _format.read_tensors(path)
    architecture = json.loads(metadata["fluxtorch.architecture"])
    outcomes = set()
    for _ in range(150):
        changed = {**metadata, "fluxtorch.architecture": json.dumps(mutate(architecture, rng))}
        with open(path, "wb") as file:
            _format.write_tensors(file, tensors, changed)
        try:
            load(path)
            outcomes.add("loaded")
        except LoadError:
            outcomes.add("LoadError")
    assert "LoadError" in outcomes


def test_load_weights_only_raises_load_error_for_broken_files(tmp_path: Path, good: bytes) -> None:
    rng = random.Random(SEED + 4)
    path = tmp_path / "w.safetensors"
    model = Chain(Input(3), Affine(4), relu, Affine(2), softmax)
    for _ in range(100):
        data = bytearray(good[: rng.randrange(len(good))]) if rng.random() < 0.5 else bytearray(good)
        if data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        with pytest.raises(LoadError):
            load_weights(model, path)
