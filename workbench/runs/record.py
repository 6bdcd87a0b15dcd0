"""``run.json``: what a run is doing or how it ended, written atomically, read honestly.

Statuses: ``running`` (a process is writing the folder), ``ok``, ``failed`` (a cell raised) and
``interrupted`` (Ctrl-C / SIGINT or SIGTERM), each with the cell and the training step reached.
A ``running`` record names its process (pid, host, the process's start time); when that
process is gone (``kill -9``, a power cut) every reader calls the run *stale*
(:func:`stale_reason`), never ``running``.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

from workbench import atomic
from workbench.progress import PROGRESS_FILE, read_progress

RUN_FILE = "run.json"
STATUSES = ("running", "ok", "failed", "interrupted")


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """``{"pid", "host", "process_started"}`` of ``pid`` (default: this process)."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "host": socket.gethostname(), "process_started": _start_time(pid)}


def _start_time(pid: int) -> float | None:
    try:
        import psutil

        return round(psutil.Process(pid).create_time(), 2)
    except Exception:  # noqa: BLE001 - no psutil, or no such process
        return None


def process_alive(identity: dict[str, Any] | None) -> bool | None:
    """Whether the process ``identity`` names still runs; ``None`` when it cannot be told
    (another host). A reused pid with another start time counts as gone."""
    if not identity or "pid" not in identity:
        return False
    if identity.get("host") not in (None, socket.gethostname()):
        return None
    pid = int(identity["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    started, now = identity.get("process_started"), _start_time(pid)
    if started is not None and now is not None and abs(started - now) > 1.0:
        return False
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        import psutil

        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except Exception:  # noqa: BLE001
        return False


def read_record(run_dir: str | Path) -> dict[str, Any] | None:
    """``run.json`` of ``run_dir``; ``None`` when absent or unreadable."""
    try:
        return json.loads((Path(run_dir) / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None


def write_record(run_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write ``run.json`` atomically."""
    return atomic.write_json(Path(run_dir) / RUN_FILE, record, default=str)


def reached(run_dir: str | Path, record: dict[str, Any]) -> str:
    """``"cell 9/19, training step 58/360"``: how far the run got (cell from run.json, step from
    progress.json)."""
    parts = []
    cell = record.get("cell") or {}
    if cell.get("index") is not None:
        parts.append(f"cell {cell['index']}/{cell.get('total', '?')}")
    step = read_progress(run_dir)
    if step.get("step") is not None:
        parts.append(f"training step {step['step']}/{step.get('total_steps', '?')}")
    return ", ".join(parts) or "before the first cell"


def stale_reason(run_dir: str | Path, record: dict[str, Any] | None = None) -> str | None:
    """Why a ``running`` record is stale (its process is gone), or ``None``."""
    record = read_record(run_dir) if record is None else record
    if not record or record.get("status") != "running":
        return None
    identity = record.get("process")
    if process_alive(identity) is not False:
        return None
    who = f"pid {identity.get('pid')} on {identity.get('host')}" if identity else "its process"
    return (f"stale run: run.json says running but {who} is gone (killed?) after "
            f"{reached(run_dir, record)}; continue it with `workbench run "
            f"{record.get('experiment', 'EXPERIMENT')} --resume {Path(run_dir)}`")


def effective_status(run_dir: str | Path, record: dict[str, Any] | None = None) -> str:
    """The recorded status, ``stale`` for a dead ``running`` one, ``missing`` without run.json."""
    record = read_record(run_dir) if record is None else record
    if record is None:
        return "missing"
    return "stale" if stale_reason(run_dir, record) else str(record.get("status"))


def status_line(run_dir: str | Path) -> str | None:
    """One line for readers when a run is not a finished ``ok`` run (``None`` when it is, or
    when it has no run.json, e.g. a folder written from a notebook by hand)."""
    record = read_record(run_dir)
    if record is None or record.get("status") == "ok":
        return None
    stale = stale_reason(run_dir, record)
    if stale:
        return stale
    status = record.get("status")
    if status == "running":
        return f"still running ({reached(run_dir, record)})"
    return f"{status} at {reached(run_dir, record)}"


def now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def begin(run_dir: str | Path, record: dict[str, Any]) -> dict[str, Any]:
    """Mark ``record`` running in this process (a new attempt) and write it."""
    for key in ("failure", "interruption", "step"):
        record.pop(key, None)
    (Path(run_dir) / PROGRESS_FILE).unlink(missing_ok=True)  # a previous attempt's position
    record.update(status="running", started=now(), process=process_identity(), cell=None)
    record.setdefault("attempts", []).append({"started": record["started"],
                                              "pid": record["process"]["pid"]})
    write_record(run_dir, record)
    return record


def end(run_dir: str | Path, record: dict[str, Any], status: str, seconds: float,
        **details: Any) -> dict[str, Any]:
    """Close the current attempt with ``status``; ``wall_seconds`` adds up every attempt."""
    progress = read_progress(run_dir)
    attempt = record["attempts"][-1]
    attempt.update(ended=now(), status=status, wall_seconds=round(seconds, 2),
                   cell=(record.get("cell") or {}).get("index"), step=progress.get("step"))
    record.update(status=status, ended=attempt["ended"], **details)
    record["wall_seconds"] = round(sum(a.get("wall_seconds") or 0 for a in record["attempts"]), 2)
    if progress:
        record["step"] = {"step": progress.get("step"), "total": progress.get("total_steps")}
    write_record(run_dir, record)
    return record


def note_cell(run_dir: str | Path, record: dict[str, Any], index: int, total: int | None,
              source: str) -> None:
    """Record the cell now running (so a kill or an interruption says where it was)."""
    record["cell"] = {"index": index, "total": total,
                      "head": source.strip().splitlines()[0][:80] if source.strip() else ""}
    write_record(run_dir, record)
