"""Storing models: one safetensors file with the architecture (JSON) and the weights.

``save(model, path)`` / ``load(path)`` keep the whole model; ``save_weights`` /
``load_weights`` only the tensors, for a model built in code.  Loading never unpickles
and never imports: functions and classes are found by name in fluxtorch, torch, the
templates defined in the running program and the names given to ``register``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from torch import Tensor, nn

from fluxtorch._infer import _require_inferred
from fluxtorch.storage._atomic import atomic_write
from fluxtorch.storage._describe import describe
from fluxtorch.storage._format import DIGEST_KEY, LoadError, SaveError, read_tensors, write_tensors
from fluxtorch.storage._names import register
from fluxtorch.storage._rebuild import rebuild

FORMAT = 1  # the version of the architecture description this fluxtorch writes and reads
_ARCHITECTURE, _VERSION = "fluxtorch.architecture", "fluxtorch.format"
_EVAL = "fluxtorch.eval"  # the layers in evaluation mode (model.eval()), by their names in named_modules


def save(model: Any, path: str | os.PathLike) -> None:
    """Write ``model`` (architecture and weights) to ``path``, atomically.

    Layers in evaluation mode (``model.eval()``) load in evaluation mode.  Everything is
    checked before the file is touched: a lambda, a local function or an
    unknown class is refused with a ``SaveError`` (a ``TypeError``) naming the layer (e.g. ``Chain[2]``),
    and a failed save leaves an existing file as it was.

    >>> import tempfile
    >>> model, x = Chain(Input(3), Affine(2), softmax), torch.rand(4, 3)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save(model, f"{folder}/model.safetensors")
    ...     loaded = load(f"{folder}/model.safetensors")
    >>> torch.equal(loaded(x), model(x))
    True
    """
    if isinstance(model, nn.Module):
        _require_inferred(model)
    architecture, tensors = describe(model, type(model).__name__)
    metadata = {"format": "pt", _VERSION: str(FORMAT), _ARCHITECTURE: json.dumps(architecture)}
    if isinstance(model, nn.Module):
        metadata[_EVAL] = json.dumps([name for name, m in model.named_modules() if not m.training])
    atomic_write(path, lambda file: write_tensors(file, tensors, metadata))


def load(path: str | os.PathLike, *, device: str | torch.device | None = None) -> Any:
    """The model saved at ``path`` (on ``device`` when given), without unpickling anything.

    Raises ``LoadError`` (a ``ValueError``) naming the file when it is truncated,
    corrupted, foreign (a pickle, a ``torch.save`` archive, weights alone) or newer;
    a missing file raises ``FileNotFoundError`` as ``open`` does.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save(Chain(Affine(4, 3), relu), f"{folder}/model.safetensors")
    ...     load(f"{folder}/model.safetensors")
    Chain(Affine(4 => 3), relu)  # 15 parameters
    """
    metadata, tensors = read_tensors(path, expect=lambda metadata: _check_version(path, metadata))
    try:
        architecture = json.loads(metadata[_ARCHITECTURE])
        model = rebuild(architecture, tensors, _root_name(architecture))
        _restore_modes(model, json.loads(metadata.get(_EVAL, "[]")))
    except Exception as err:  # noqa: BLE001 - whatever a hostile file provokes is reported as LoadError
        raise LoadError(
            f"cannot load {os.fspath(path)!r}: its architecture does not rebuild ({err}). The file is "
            f"corrupted, or it names layers this program does not define."
        ) from err
    return model.to(device) if device is not None and isinstance(model, nn.Module) else model


def _restore_modes(model: Any, evaluating: Any) -> None:
    """Put the layers saved in evaluation mode back in it (dropout off, batch norm on its statistics)."""
    if not isinstance(evaluating, list) or not all(isinstance(name, str) for name in evaluating):
        raise ValueError("its list of layers in evaluation mode is not a list of names")
    if isinstance(model, nn.Module) and evaluating:
        names = set(evaluating)
        for name, m in model.named_modules():
            if name in names:
                m.training = False


def _root_name(architecture: Any) -> str:
    if isinstance(architecture, dict):
        name = architecture.get("template") or architecture.get("module")
        if isinstance(name, str):
            return name.rpartition(".")[2]
        if "chain" in architecture:
            return "Chain"
    return "model"


def _check_version(path: str | os.PathLike, metadata: dict[str, str]) -> None:
    version = metadata.get(_VERSION)
    where = f"cannot load {os.fspath(path)!r}:"
    if version is None or _ARCHITECTURE not in metadata:
        raise LoadError(
            f"{where} it is a safetensors file of weights alone, with no fluxtorch architecture. "
            f"Fix: build the model in code and call load_weights(model, path)."
        )
    if DIGEST_KEY not in metadata:
        raise LoadError(f"{where} it has no checksum (corrupted, or not written by fluxtorch.save).")
    if not version.isdigit():
        raise LoadError(f"{where} its format version {version!r:.20} is not a number (corrupted).")
    if int(version) > FORMAT:
        raise LoadError(
            f"{where} it was written by a newer fluxtorch (format {int(version)}; this one reads "
            f"format {FORMAT}). Fix: upgrade fluxtorch."
        )


def save_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """Write ``model.state_dict()`` to ``path`` as a plain safetensors file, atomically.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_weights(Affine(3, 2), f"{folder}/weights.safetensors")
    """
    _require_module(model, "save_weights")
    tensors = dict(model.state_dict())
    metadata = {"format": "pt", _VERSION: str(FORMAT)}
    atomic_write(path, lambda file: write_tensors(file, tensors, metadata))


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Copy the tensors saved at ``path`` into ``model`` (built in code); returns ``model``.

    Any safetensors file works (from ``save``, ``save_weights`` or another library) when
    its names are the model's ``state_dict`` keys.  Every missing, unexpected or
    mismatched name is reported at once, with both shapes, before anything is copied.

    >>> import tempfile
    >>> a, b = Affine(3, 2), Affine(3, 2)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_weights(a, f"{folder}/weights.safetensors")
    ...     _ = load_weights(b, f"{folder}/weights.safetensors")
    >>> torch.equal(b.W, a.W)
    True
    """
    _require_module(model, "load_weights")
    _, stored = read_tensors(path)
    targets = model.state_dict(keep_vars=True)
    problems = _mismatches(targets, stored)
    if problems:
        raise ValueError(
            f"load_weights: {os.fspath(path)!r} does not fit {type(model).__name__}:\n  "
            + "\n  ".join(problems)
            + "\nFix: build the model with the same layers and sizes as the saved one, or use "
            "load(path) to get the saved model with its architecture."
        )
    with torch.no_grad():
        for key, tensor in stored.items():
            targets[key].copy_(tensor)
    return model


def _require_module(model: Any, who: str) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"{who} expected a model with weights (an nn.Module), got {type(model).__name__} "
            f"{model!r:.60}. Fix: a plain function has no weights; use save(model, path) to store it."
        )
    _require_inferred(model)


def _mismatches(targets: dict[str, Tensor], stored: dict[str, Tensor]) -> list[str]:
    """One line per problem; keys of one shared tensor are satisfied by any of them."""
    problems = []
    groups: dict[int, list[str]] = {}
    for key, tensor in targets.items():
        groups.setdefault(id(tensor), []).append(key)
    missing = [keys[0] for keys in groups.values() if not any(k in stored for k in keys)]
    unexpected = sorted(set(stored) - set(targets))
    for key, tensor in stored.items():
        if key in targets and tensor.shape != targets[key].shape:
            problems.append(
                f"{key}: the file has shape {tuple(tensor.shape)}, the model has {tuple(targets[key].shape)}"
            )
    if missing:
        problems.append(f"missing from the file: {', '.join(missing)}")
    if unexpected:
        problems.append(f"in the file but not in the model: {', '.join(unexpected)}")
    return problems


__all__ = ["LoadError", "SaveError", "load", "load_weights", "register", "save", "save_weights"]
