"""The file container: safetensors (an 8-byte header size, a JSON header, raw tensor bytes).

Layout, as the safetensors specification gives it: ``u64`` little-endian header size
``N``; ``N`` bytes of UTF-8 JSON mapping each tensor name to ``{"dtype", "shape",
"data_offsets"}`` plus a ``"__metadata__"`` map of strings; then the tensors' bytes,
back to back.  fluxtorch adds a SHA-256 digest of the whole file (its own 64 hex digits
counted as zeros) to the metadata, so a flipped bit anywhere is caught.  Reading checks every size, dtype, shape and
offset against the file's length before allocating anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from typing import BinaryIO, Callable

import torch
from torch import Tensor

HEADER_LIMIT = 100_000_000  # bytes; the safetensors library's own cap
DIGEST_KEY = "fluxtorch.sha256"

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
_DTYPES.update({  # in recent torch only
    code: getattr(torch, name) for code, name in (
        ("U16", "uint16"), ("U32", "uint32"), ("U64", "uint64"),
        ("F8_E4M3", "float8_e4m3fn"), ("F8_E5M2", "float8_e5m2"),
    ) if hasattr(torch, name)
})
_CODES = {dtype: code for code, dtype in _DTYPES.items()}
_FOREIGN = (
    (b"PK\x03\x04", "a zip archive, as torch.save writes; if you trust its source, open it with torch.load"),
    (b"\x80", "a Python pickle; pickles can run code when opened, so fluxtorch never loads them"),
    (b"\x89HDF", "an HDF5 file"),
    (b"\x89PNG", "a PNG image"),
)


class LoadError(ValueError):
    """A file that cannot be loaded: truncated, corrupted, foreign, or from a newer fluxtorch.

    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = pathlib.Path(f"{folder}/junk.safetensors").write_bytes(b"junk")
    ...     load(f"{folder}/junk.safetensors")
    Traceback (most recent call last):
    ...
    fluxtorch.storage._format.LoadError: cannot load '...junk.safetensors': it is 4 bytes long, too short ...
    """


class SaveError(TypeError, ValueError):
    """A model part a file cannot describe (a lambda, a local function, an unknown class).

    A ``TypeError`` (the part is of a kind a file cannot hold) and a ``ValueError`` (the
    model given to ``save`` is not a storable value), so code catching either works.

    >>> save(Chain(lambda x: x), "never-written.safetensors")  # refused before any file is touched
    Traceback (most recent call last):
    ...
    fluxtorch.storage._format.SaveError: save cannot store Chain[0]: it is a lambda, ...
    """


def write_tensors(file: BinaryIO, tensors: dict[str, Tensor], metadata: dict[str, str]) -> None:
    """Write ``tensors`` and string ``metadata`` to ``file`` as a safetensors file with a digest."""
    header: dict = {"__metadata__": dict(metadata)}
    blobs, offset = [], 0
    for name, tensor in tensors.items():
        code = _CODES.get(tensor.dtype)
        if code is None:
            raise SaveError(
                f"cannot store tensor {name!r} of dtype {tensor.dtype}: the file format holds "
                f"{', '.join(map(str, _CODES))}. Fix: convert it, e.g. model.to(torch.float32)."
            )
        data = tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy()
        header[name] = {"dtype": code, "shape": list(tensor.shape), "data_offsets": [offset, offset + data.nbytes]}
        blobs.append(data)
        offset += data.nbytes
    header["__metadata__"][DIGEST_KEY] = "0" * 64
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # align the data to 8 bytes, as safetensors does
    start = struct.pack("<Q", len(text))
    digest = hashlib.sha256(start + text)
    for data in blobs:
        digest.update(data)
    text = text.replace(_digest_field("0" * 64), _digest_field(digest.hexdigest()))
    file.write(start)
    file.write(text)
    for data in blobs:
        file.write(data)


def read_tensors(
    path: str | os.PathLike, *, expect: Callable[[dict[str, str]], None] | None = None
) -> tuple[dict[str, str], dict[str, Tensor]]:
    """Read a safetensors file: its metadata and tensors, each check failing as ``LoadError``.

    ``expect(metadata)`` may refuse the file (raising ``LoadError``) before any tensor is
    allocated.
    """
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        fail = _failer(path)
        start = file.read(8)
        for magic, what in _FOREIGN:
            if start.startswith(magic) and not _plausible(start, size):
                fail(f"it is not a fluxtorch file but {what}.")
        if len(start) < 8:
            fail(f"it is {size} bytes long, too short for a header (truncated or empty).")
        (length,) = struct.unpack("<Q", start)
        if length > HEADER_LIMIT:
            fail(f"its header claims {length:,} bytes, over the {HEADER_LIMIT:,}-byte limit (not a "
                 f"safetensors file, or corrupted).")
        if 8 + length > size:
            fail(f"its header claims {length:,} bytes but the file has {size:,} (truncated or corrupted).")
        raw = file.read(length)
        header = _parse_header(raw, fail)
        metadata = header.pop("__metadata__", {})
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            fail("its __metadata__ is not a map of strings (corrupted).")
        entries = _check_entries(header, size - 8 - length, fail)
        expected = metadata.get(DIGEST_KEY)
        if expect is not None:
            expect(metadata)
        if expected is not None:
            field = _digest_field(expected)
            if len(expected) != 64 or raw.count(field) != 1:
                fail("its checksum field is damaged (corrupted).")
            digest = hashlib.sha256(start + raw.replace(field, _digest_field("0" * 64)))
        else:
            digest = hashlib.sha256()
        tensors = {}
        for name, (dtype, shape, begin, end) in entries:
            tensor = torch.empty(shape, dtype=dtype)
            view = tensor.reshape(-1).view(torch.uint8).numpy()
            if file.readinto(memoryview(view)) != end - begin:
                fail(f"tensor {name!r} ends past the end of the file (truncated).")
            digest.update(view)
            tensors[name] = tensor
    if expected is not None and digest.hexdigest() != expected:
        fail("its checksum does not match its contents (corrupted: a byte changed after it was written).")
    return metadata, tensors


def _plausible(start: bytes, size: int) -> bool:
    """Whether ``start`` reads as the size of a JSON header that fits in the file."""
    return len(start) == 8 and 2 <= struct.unpack("<Q", start)[0] <= min(size - 8, HEADER_LIMIT)


def _digest_field(digest: str) -> bytes:
    """The digest as it appears in the JSON header; its bytes are zeros while hashing."""
    return json.dumps({DIGEST_KEY: digest}, separators=(",", ":"))[1:-1].encode()


def _failer(path: str | os.PathLike):  # noqa: ANN202
    def fail(why: str) -> None:
        raise LoadError(f"cannot load {os.fspath(path)!r}: {why}")

    return fail


def _parse_header(raw: bytes, fail) -> dict:  # noqa: ANN001
    try:
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as err:
        fail(f"its header is not valid JSON ({type(err).__name__}: {str(err)[:100]}); the file is "
             f"corrupted or not a safetensors file.")
    if not isinstance(header, dict):
        fail("its header is not a JSON object (corrupted, or not a safetensors file).")
    return header


def _check_entries(header: dict, data_size: int, fail) -> list:  # noqa: ANN001
    """Validate every tensor entry against the data size; sorted by offset, contiguous from 0."""
    entries = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            fail(f"tensor {name!r} has a malformed entry (corrupted).")
        dtype = _DTYPES.get(entry["dtype"]) if isinstance(entry["dtype"], str) else None
        shape, offsets = entry["shape"], entry["data_offsets"]
        if dtype is None:
            fail(f"tensor {name!r} has unknown dtype {entry['dtype']!r:.40} (corrupted, or a newer format).")
        if not isinstance(shape, list) or not all(_is_count(n) for n in shape) or len(shape) > 64:
            fail(f"tensor {name!r} has an invalid shape (corrupted).")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(n) for n in offsets):
            fail(f"tensor {name!r} has invalid data offsets (corrupted).")
        numel = extent = 1
        for n in shape:
            numel *= n
            extent *= max(n, 1)
        if extent >= 2**62:
            fail(f"tensor {name!r} has an impossible shape (corrupted).")
        begin, end = offsets
        if end - begin != numel * torch.empty((), dtype=dtype).element_size():
            fail(f"tensor {name!r} of shape {tuple(shape)} does not match its {end - begin} bytes (corrupted).")
        entries.append((name, (dtype, tuple(shape), begin, end)))
    entries.sort(key=lambda item: (item[1][2], item[1][3]))
    position = 0
    for name, (_, _, begin, end) in entries:
        if begin != position:
            fail(f"tensor {name!r} starts at byte {begin}, expected {position} (corrupted).")
        position = end
    if position != data_size:
        problem = "truncated" if position > data_size else "it has trailing bytes"
        fail(f"its tensors take {position:,} bytes but {data_size:,} follow the header ({problem}).")
    return entries


def _is_count(n: object) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**62
