"""Atomic writes: a reader (or a crash, or ``kill -9``) never sees a half-written file.

A file is written to a temporary name in the same folder, flushed and ``fsync``-ed, then moved
over the target with ``os.replace`` (atomic on POSIX) and the folder ``fsync``-ed so the rename
itself survives a power cut. A folder is built under a temporary name and renamed the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def fsync_dir(path: str | Path) -> None:
    """Flush a folder's entries (new names, renames) to disk; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + ``os.replace``)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any, **dumps: Any) -> Path:
    """Write ``data`` as indented JSON atomically (``dumps`` go to :func:`json.dumps`)."""
    return write_text(path, json.dumps(data, **{"indent": 2, **dumps}) + "\n")


def fsync_file(path: str | Path) -> None:
    """Flush one file's contents to disk."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def write_dir(final: str | Path, fill: Callable[[Path], None]) -> Path:
    """Build a folder atomically: ``fill(tmp)`` writes into ``.tmp-<name>``, every file is
    fsync-ed, then the folder is renamed to ``final`` (an old ``final`` is moved aside first)."""
    final = Path(final)
    tmp = final.with_name(f".tmp-{final.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        fill(tmp)
        for file in tmp.rglob("*"):
            if file.is_file():
                fsync_file(file)
        fsync_dir(tmp)
        old = final.with_name(f".old-{final.name}")
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)
    return final
