"""Folder checks before a run starts: finished work is never overwritten, resumes are sound.

All functions here only read: ``workbench run`` calls them before it creates, renames or writes
anything, so a refused run leaves every folder as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench.errors import FolderError
from workbench.runs.record import status_line
from workbench.training import checkpoint as ckpt

RUN_FILE = "run.json"


def _describe(path: Path) -> str:
    """`` (a finished matryoshka_2d run)`` for a run folder, else ``""``."""
    try:
        record = json.loads((path / RUN_FILE).read_text())
        return f" (a {record.get('status', '?')} run of {record.get('experiment', '?')})"
    except (OSError, ValueError, AttributeError):
        return ""


def check_out_dir(path: Path) -> None:
    """``--out`` must be a new or empty folder that can be created."""
    if path.is_file():
        raise FolderError(f"--out {path} is an existing file; give a new folder")
    if path.is_dir() and any(path.iterdir()):
        raise FolderError(f"--out {path} is not empty{_describe(path)}; to continue a run there "
                          f"use --resume {path}, or give a new folder")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise FolderError(f"--out {path}: {parent} is a file, not a folder")


def claim_out_dir(path: Path) -> Path:
    """Create ``path`` (the last check: a read-only place is refused here, nothing written)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise FolderError(f"cannot write the run folder {path}: {err.strerror or err}") from None
    return path


def read_run_record(path: Path) -> dict[str, Any]:
    """``run.json`` of a run folder; refused naming the path when missing or unreadable."""
    if not path.exists():
        raise FolderError(f"{path}: no such run folder")
    if not path.is_dir():
        raise FolderError(f"{path} is a file, not a run folder")
    file = path / RUN_FILE
    if not file.exists():
        raise FolderError(f"{path} is not a run folder: it has no {RUN_FILE}")
    try:
        record = json.loads(file.read_text())
    except ValueError as err:
        raise FolderError(f"{file} is not valid JSON ({err}); the run record is damaged") from None
    if not isinstance(record, dict) or not isinstance(record.get("parameters"), dict):
        raise FolderError(f"{file} has no 'parameters'; the run record is damaged")
    return record


def check_resume_dir(path: Path, experiment: str) -> dict[str, Any]:
    """The run record of a folder ``--resume`` may continue (same experiment, not finished)."""
    record = read_run_record(path)
    found = record.get("experiment")
    if found != experiment:
        raise FolderError(f"--resume {path} is a run of '{found}', not '{experiment}'; resume it "
                          f"with `workbench run {found} --resume {path}`")
    if record.get("status") == "ok":
        raise FolderError(f"--resume {path}: the run already finished (status ok); resuming "
                          "would overwrite its results: start a new run with --out NEW_FOLDER")
    return record


def check_checkpoint_to_resume(run_dir: Path | None, experiment: str, target: str | Path) -> None:
    """The checkpoint training will resume from (``target``: a run or checkpoint folder) is
    complete; for a damaged newest one the message offers the previous good checkpoint.
    ``run_dir``: the folder ``--resume`` continues (None for a fresh run)."""
    target = Path(target).expanduser().resolve()
    newest = ckpt.list_checkpoints(target)
    chosen = target if (target / ckpt.STATE_NAME).exists() else (newest[-1] if newest else None)
    if chosen is None:
        if target != run_dir:
            raise FolderError(f"resume_from_checkpoint={str(target)!r}: no checkpoint there "
                              f"(expected checkpoint-<step>/{ckpt.STATE_NAME})")
        return  # --resume of a run without a checkpoint yet: it restarts from the beginning
    problem = ckpt.check_checkpoint(chosen)
    if problem is None:
        return
    good = [p for p in ckpt.list_checkpoints(chosen.parent) if p != chosen
            and ckpt.check_checkpoint(p) is None]
    how = f"--resume {run_dir}" if run_dir is not None else "..."
    offer = (f"; the previous good checkpoint is {good[-1]}: resume from it with `workbench run "
             f"{experiment} {how} -p resume_from_checkpoint {good[-1]}`"
             if good else "; no earlier good checkpoint exists: start a new run")
    raise FolderError(f"checkpoint {chosen} is damaged ({problem}){offer}")


def check_finished_run(path: Path) -> None:
    """A run folder that finished: it exists, did not fail, and its metrics.json parses."""
    path = Path(path)
    if not path.is_dir():
        raise FolderError(f"{path}: no such run folder")
    try:
        record = json.loads((path / RUN_FILE).read_text())
    except (OSError, ValueError):
        record = {}
    if isinstance(record, dict) and record.get("status") == "failed":
        failure = record.get("failure") or {}
        raise FolderError(f"{path}: the run failed (cell {failure.get('cell_index')}: "
                          f"{failure.get('ename')}); it has no results to compare")
    metrics = path / "metrics.json"
    if not metrics.exists():
        note = status_line(path)
        raise FolderError(f"{path} is not a finished run folder: it holds no metrics.json"
                          + (f" ({note})" if note else ""))
    try:
        json.loads(metrics.read_text())
    except ValueError as err:
        raise FolderError(f"{metrics} is not valid JSON ({err})") from None
