"""Follow a run from outside its kernel: cells as they start, training progress as it goes.

``workbench run`` executes the notebook with papermill in its main thread. Two channels reach
it: nbclient's ``on_notebook_start`` / ``on_cell_start`` hooks (which cell runs, and its
heading) and the ``progress.json`` the training loop rewrites in the run folder (step/total,
loss, last evaluation, ETA). A daemon thread polls that file and prints one line when the step
moved and ``interval`` seconds passed, and at once after an evaluation or at the end.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from workbench.progress import read_progress


def headline_metric(metrics: dict[str, Any]) -> tuple[str, float] | None:
    """The metric a progress line shows: the first Spearman, else the first one."""
    if not metrics:
        return None
    name = next((k for k in metrics if "spearman" in k), next(iter(metrics)))
    return name, metrics[name]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def progress_line(p: dict[str, Any]) -> str:
    """``train 120/360 (33%) loss 0.4123 | sts-dev_spearman_cosine 0.8123 @120 | 1.9 step/s
    ETA 2m06s``."""
    step, total = p.get("step", 0), p.get("total_steps") or 0
    parts = [f"train {step}/{total}" + (f" ({step / total:.0%})" if total else "")]
    if p.get("loss") is not None:
        parts.append(f"loss {p['loss']:.4f}")
    evaluation = p.get("eval") or {}
    best = headline_metric(evaluation.get("metrics") or {})
    if best is not None and best[1] is not None:
        parts.append(f"| {best[0]} {best[1]:.4f} @{evaluation.get('step')}")
    if p.get("steps_per_s"):
        parts.append(f"| {p['steps_per_s']:.2f} step/s ETA {_duration(p.get('eta_s'))}")
    return " ".join(parts)


class Follower:
    """Prints progress lines to ``out`` while a run executes (``with Follower(...):``)."""

    def __init__(self, run_dir: str | Path, out: TextIO | None = None, interval: float = 5.0,
                 poll: float = 0.5, enabled: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.out = out or sys.stdout
        self.interval, self.poll, self.enabled = interval, poll, enabled
        self.total_cells: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown: tuple[int, int] | None = None
        self._last_print = 0.0
        self._since = time.time()  # progress.json older than this is a previous part's

    def notebook_start(self, notebook: Any = None, **_: Any) -> None:
        self.total_cells = len(notebook.cells) if notebook is not None else None

    def cell_start(self, cell: Any = None, cell_index: int | None = None, **_: Any) -> None:
        """nbclient hook: a markdown heading announces the section the next cells run."""
        if not self.enabled or cell is None or cell.cell_type != "markdown":
            return
        heading = next((line.lstrip("# ").strip() for line in cell.source.splitlines()
                        if line.startswith("#")), None)
        if heading:
            self._print(f"[cell {cell_index}/{self.total_cells or '?'}] {heading}")

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)
        self._last_print = time.monotonic()

    def check(self, final: bool = False) -> None:
        """Print a line if training moved enough since the last one (or ``final``)."""
        p = read_progress(self.run_dir)
        if not p or p.get("updated", 0) < self._since:
            return
        eval_step = (p.get("eval") or {}).get("step", -1)
        key = (p.get("step", 0), eval_step)
        if key == self._shown:
            return
        new_eval = self._shown is None or eval_step != self._shown[1]
        due = time.monotonic() - self._last_print >= self.interval
        if final or new_eval or due or p.get("event") == "end":
            self._shown = key
            self._print("  " + progress_line(p))

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.check()
            except Exception:  # noqa: BLE001, S112 - following must never break a run
                continue

    def __enter__(self) -> Follower:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="follow", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self.check(final=True)
