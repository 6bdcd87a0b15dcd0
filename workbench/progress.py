"""``progress.json``: where training is, rewritten (atomically) as it goes (stdlib only, so the
command line reads it without importing torch).

The training loop runs inside the notebook's kernel; ``workbench run`` follows this file from
outside (``workbench.runs.follow``) to print step/total, loss, the last evaluation and the ETA,
and ``run.json`` takes the step reached from it when a run is interrupted or killed.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from workbench import atomic

PROGRESS_FILE = "progress.json"


class ProgressFile:
    """Training callback writing ``<folder>/progress.json`` at most every ``min_interval``
    seconds, and at once on a log, evaluation, checkpoint or the end.

    ETA = (remaining steps) x (seconds per step measured since this process started training).
    """

    def __init__(self, folder: str | Path, min_interval: float = 1.0) -> None:
        self.path = Path(folder) / PROGRESS_FILE
        self.min_interval = min_interval
        self._last = -float("inf")
        self._start: tuple[float, int] | None = None
        self.identity = {"pid": os.getpid(), "host": socket.gethostname()}

    def __call__(self, event: str, state: Any) -> None:
        now = time.monotonic()
        if self._start is None or event == "start":
            self._start = (now, state.step - (event == "step"))
        if event == "step" and now - self._last < self.min_interval:
            return
        self._last = now
        atomic.write_json(self.path, self.snapshot(event, state, now))

    def snapshot(self, event: str, state: Any, now: float) -> dict[str, Any]:
        t0, s0 = self._start or (now, state.step)
        elapsed, done = now - t0, state.step - s0
        rate = done / elapsed if elapsed > 0 and done > 0 else None
        left = max(state.total_steps - state.step, 0)
        return {
            "event": event, "step": state.step, "total_steps": state.total_steps,
            "epoch": round(state.epoch_float, 4), "loss": state.last_loss,
            "eval": ({"step": state.last_eval_step, "metrics": state.metrics}
                     if state.last_eval_step >= 0 else None),
            "status": state.status, "elapsed_s": round(elapsed, 2),
            "steps_per_s": rate, "eta_s": left / rate if rate else None,
            "updated": time.time(), **self.identity,
        }


def read_progress(run_dir: str | Path) -> dict[str, Any]:
    """The training loop's last ``progress.json`` in ``run_dir`` (empty before training)."""
    try:
        return json.loads((Path(run_dir) / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return {}
