"""Atomic file writes: a temporary file beside the target, flushed, synced, then renamed over it."""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path
from typing import BinaryIO, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through ``write(file)`` so it is either the old file or the whole new one.

    The bytes go to a temporary file in the same directory (same file system, so the
    final ``os.replace`` is atomic), which is flushed and synced before it replaces
    ``path``.  If anything fails, the temporary file is removed and ``path`` is untouched.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     atomic_write(f"{folder}/a.bin", lambda f: f.write(b"new"))
    ...     Path(f"{folder}/a.bin").read_bytes()
    b'new'
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    if not path.parent.is_dir():  # else the error would name the temporary file
        raise FileNotFoundError(
            errno.ENOENT, f"cannot write {os.fspath(path)!r}: its folder {os.fspath(path.parent)!r} does not "
            f"exist. Fix: create it first, e.g. os.makedirs({os.fspath(path.parent)!r}, exist_ok=True)", os.fspath(path)
        )
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
