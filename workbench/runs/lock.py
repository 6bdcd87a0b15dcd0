"""One writer per run folder: ``<run>/.lock`` names the process that holds it.

Taken with ``O_CREAT | O_EXCL`` (atomic); a second process is refused with the holder's pid,
host and start. A lock whose process is gone (``kill -9``) is stale: it is moved aside by an
atomic rename (so of two processes finding it stale, exactly one takes it over) and retaken.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from workbench.runs.record import process_alive, process_identity

LOCK_NAME = ".lock"


class RunLockedError(RuntimeError):
    """Another live process is writing this run folder."""


class RunLock:
    """``with RunLock(run_dir):`` holds the folder's lock for the block."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.identity = process_identity()
        self.took_over: dict[str, Any] | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._clear_stale()
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(self.identity, fh)
            return self
        raise RunLockedError(f"could not take the lock {self.path} (another process keeps "
                             f"taking it)")

    def _clear_stale(self) -> None:
        holder = holder_of(self.path.parent)
        alive = process_alive(holder) if holder else False
        if holder == {} and _age(self.path) < 5.0:  # being written by its taker right now
            alive = True
        if alive is not False:
            who = (f"pid {holder.get('pid')} on {holder.get('host')}" if holder else "?")
            raise RunLockedError(
                f"{self.path.parent} is being written by another process ({who}); wait for it "
                f"to finish or stop it, or remove {self.path} if that process is not a workbench "
                f"run")
        aside = self.path.with_name(f"{LOCK_NAME}.stale-{os.getpid()}")
        try:
            os.rename(self.path, aside)  # atomic: one of several contenders wins
        except FileNotFoundError:
            return
        self.took_over = holder
        aside.unlink(missing_ok=True)

    def release(self) -> None:
        if holder_of(self.path.parent) == self.identity:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def holder_of(run_dir: str | Path) -> dict[str, Any] | None:
    """The identity written in ``run_dir``'s lock, ``None`` when unlocked; ``{}`` when the lock
    file is unreadable (being written, or torn)."""
    try:
        return json.loads((Path(run_dir) / LOCK_NAME).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
