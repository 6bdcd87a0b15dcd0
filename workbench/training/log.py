"""The training log: JSON lines written as they happen, read back in the seed cards' layout."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

LOG_NAME = "train_log.jsonl"
CSV_NAME = "train_log.csv"
CARD_COLUMNS = ["Epoch", "Step", "Training Loss", "Validation Loss"]


class TrainLog:
    """Append-only JSON-lines log; every event is flushed to disk at once.

    Events carry ``type`` ("train", "eval", "health", "save", "end"), ``step`` and ``epoch``.
    Without a folder the events are kept in memory only.
    """

    def __init__(self, folder: str | Path | None, resume: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.path = Path(folder) / LOG_NAME if folder is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if resume and self.path.exists():
                self.events = read_events(self.path)
            elif not resume:
                self.path.write_text("")

    def write(self, event: dict[str, Any]) -> None:
        """Record one event (values made JSON-safe: NaN/inf become null)."""
        clean = {k: _json_safe(v) for k, v in event.items()}
        self.events.append(clean)
        if self.path is not None:
            with self.path.open("a") as fh:
                fh.write(json.dumps(clean) + "\n")
        for listener in self.listeners:  # e.g. experiment trackers (training.trackers)
            listener(clean)

    def truncate_after(self, step: int) -> None:
        """Drop events past ``step`` (a resumed run re-does them) and rewrite the file."""
        self.events = [e for e in self.events if e.get("step", 0) <= step and e["type"] != "end"]
        if self.path is not None:
            self.path.write_text("".join(json.dumps(e) + "\n" for e in self.events))

    def frame(self) -> pd.DataFrame:
        return to_frame(self.events)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):
        return _json_safe(value.item())
    return value


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """All events of a ``train_log.jsonl`` (a torn last line from a crash is skipped)."""
    events = []
    for line in Path(path).read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def to_frame(events: list[dict[str, Any]]) -> pd.DataFrame:
    """Seed-card "Training Logs" table: Epoch, Step, Training Loss, Validation Loss, metrics.

    One row per step that logged a loss or ran an evaluation; missing values are NaN
    (the card writer prints them as "-").
    """
    rows: dict[int, dict[str, Any]] = {}
    metric_cols: list[str] = []
    for e in events:
        if e.get("type") not in ("train", "eval"):
            continue
        row = rows.setdefault(e["step"], {"Epoch": e.get("epoch"), "Step": e["step"]})
        if e["type"] == "train":
            row["Training Loss"] = e.get("loss")
            continue
        if "eval_loss" in e:
            row["Validation Loss"] = e["eval_loss"]
        for k, v in e.get("metrics", {}).items():
            row[k] = v
            if k not in metric_cols:
                metric_cols.append(k)
    frame = pd.DataFrame(sorted(rows.values(), key=lambda r: r["Step"]),
                         columns=CARD_COLUMNS + metric_cols)
    return frame.astype({c: float for c in frame.columns if c != "Step"})


def read_log(folder_or_file: str | Path) -> pd.DataFrame:
    """Read a run's ``train_log.jsonl`` (a folder or the file) as the card-layout DataFrame."""
    path = Path(folder_or_file)
    return to_frame(read_events(path / LOG_NAME if path.is_dir() else path))
