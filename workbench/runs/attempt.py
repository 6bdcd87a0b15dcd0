"""One attempt at a run: papermill executes the notebook into the run folder, followed from
here, and ``run.json`` records how it ended (``ok``, ``failed`` in cell N, or ``interrupted``
by Ctrl-C / SIGTERM at cell N, training step S). The caller holds the folder's lock."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workbench import atomic
from workbench.runs import record as run_record
from workbench.runs.follow import Follower
from workbench.runs.kernel_env import kernel_environment
from workbench.runs.lock import RunLockedError

KERNEL_NAME = "python3"
FAILURE_FILE = "FAILED.txt"


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete ``checkpoint-<step>/`` folders (holding ``state.pt``), oldest first (no torch
    import: the command line stays quick)."""
    found = [(int(p.name.split("-", 1)[1]), p) for p in run_dir.glob("checkpoint-*")
             if p.name.split("-", 1)[1].isdigit() and (p / "state.pt").is_file()]
    return [p for _, p in sorted(found)]


class RunFailed(RuntimeError):
    """A notebook raised; ``run_dir`` keeps the partial outputs and says where it failed."""

    def __init__(self, message: str, run_dir: Path):
        super().__init__(message)
        self.run_dir = run_dir


class RunInterrupted(RunFailed):
    """Ctrl-C or SIGTERM stopped the run; run.json says ``interrupted`` and where."""


def _record_failure(run_dir: Path, record: dict[str, Any], err: Exception,
                    seconds: float) -> str:
    """Write where the notebook failed into run.json and FAILED.txt; return the message."""
    cell = getattr(err, "cell_index", None)
    ename = getattr(err, "ename", type(err).__name__)
    evalue = getattr(err, "evalue", str(err))
    source = (getattr(err, "source", "") or "").strip().splitlines()
    run_record.end(run_dir, record, "failed", seconds, failure={
        "cell_index": cell, "execution_count": getattr(err, "exec_count", None),
        "ename": ename, "evalue": evalue, "cell_source_head": source[:3]})
    where = f"cell {cell}" if cell is not None else "before the first cell ran"
    message = (f"{record['experiment']} failed in {where}: {ename}: {evalue}\n"
               f"partial outputs kept in {run_dir} (executed notebook: notebook.ipynb)")
    atomic.write_text(run_dir / FAILURE_FILE, message + "\n\n" + "\n".join(source[:10]) + "\n")
    return message


def _record_interruption(run_dir: Path, record: dict[str, Any], err: BaseException,
                         seconds: float) -> str:
    """Write ``interrupted`` with the cell and training step reached; return the message."""
    how = "SIGTERM" if isinstance(err, Terminated) else "SIGINT (Ctrl-C)"
    reached = run_record.reached(run_dir, record)
    found = checkpoints(run_dir)
    run_record.end(run_dir, record, "interrupted", seconds, interruption={
        "signal": how.split()[0], "cell_index": (record.get("cell") or {}).get("index"),
        "last_checkpoint": found[-1].name if found else None})
    resume = (f"continue from {found[-1].name} with `workbench run {record['experiment']} "
              f"--resume {run_dir}`" if found else "no checkpoint was written yet")
    return f"{record['experiment']} interrupted by {how} at {reached}; {resume}"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so a run ends as cleanly as after Ctrl-C."""


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def take_over(run_dir: Path, record: dict[str, Any]) -> None:
    """Before a resumed attempt (lock held, checks passed): note what it continues, keep the
    previous notebook, and point the trainer at the newest checkpoint."""
    stale = run_record.stale_reason(run_dir, record)
    record["resumed_from"] = {"status": "stale" if stale else record.get("status"),
                              "reached": run_record.reached(run_dir, record)}
    if stale and record.get("attempts"):  # the killed attempt never closed itself
        record["attempts"][-1].update(
            status="killed", cell=(record.get("cell") or {}).get("index"),
            step=run_record.read_progress(run_dir).get("step"))
    _wait_for_kernel(run_dir)
    old = run_dir / "notebook.ipynb"
    if old.exists():
        old.replace(run_dir / "notebook.previous.ipynb")
    (run_dir / FAILURE_FILE).unlink(missing_ok=True)
    if checkpoints(run_dir):  # the trainer resumes from the newest checkpoint-<step>/ there
        record["parameters"]["resume_from_checkpoint"] = str(run_dir)


def _wait_for_kernel(run_dir: Path, timeout: float = 15.0) -> None:
    """A killed run's kernel notices its parent is gone within a second or two; wait for it
    so two kernels never write one folder."""
    kernel = run_record.read_progress(run_dir)
    deadline = time.monotonic() + timeout
    while run_record.process_alive(kernel) and kernel.get("pid") != os.getpid():
        if time.monotonic() > deadline:
            raise RunLockedError(f"{run_dir} is still being written by a kernel (pid "
                                 f"{kernel['pid']}); stop it before resuming")
        time.sleep(0.2)


def run_notebook(notebook: Path, run_dir: Path, record: dict[str, Any], progress: bool,
               stream_output: bool) -> None:
    """Execute the notebook into ``run_dir``, following it, and record how it ended."""
    import papermill

    follower = Follower(run_dir, enabled=progress)

    def on_cell_start(cell: Any, cell_index: int, **_: Any) -> None:
        run_record.note_cell(run_dir, record, cell_index, follower.total_cells, cell.source)
        follower.cell_start(cell, cell_index)

    start = time.perf_counter()
    try:
        with follower, kernel_environment():
            papermill.execute_notebook(
                str(notebook), str(run_dir / "notebook.ipynb"),
                parameters=record["parameters"], kernel_name=KERNEL_NAME, progress_bar=False,
                stdout_file=sys.stdout if stream_output else None,
                stderr_file=sys.stderr if stream_output else None, cwd=str(run_dir),
                on_notebook_start=follower.notebook_start, on_cell_start=on_cell_start)
    except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM in this process
        message = _record_interruption(run_dir, record, err, time.perf_counter() - start)
        raise RunInterrupted(message, run_dir) from err
    except Exception as err:  # a cell raised, or the kernel did not start
        seconds = time.perf_counter() - start
        if getattr(err, "ename", None) == "KeyboardInterrupt":  # the kernel was interrupted
            raise RunInterrupted(_record_interruption(run_dir, record, err, seconds),
                                 run_dir) from err
        raise RunFailed(_record_failure(run_dir, record, err, seconds), run_dir) from err
    run_record.end(run_dir, record, "ok", time.perf_counter() - start)
