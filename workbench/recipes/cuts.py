"""Notebook steps for the evaluation tasks: load them, grid them before and after training, save.

Writes ``cuts_before.csv`` and ``cuts.csv`` (``evaluators.task_grid``) into the run folder and
``model/cuts.json`` (``reports.cuts``); ``zero_shot_vs_trained`` is the per-task summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.data.tasks import Task, load_tasks
from workbench.evaluators.task_grid import task_grid
from workbench.reports.cuts import write_cuts_json
from workbench.runs.parameters import count_or_all


def load_eval_tasks(names: Sequence[str], max_pairs: int = -1, max_queries: int = -1,
                    max_corpus: int = -1) -> list[Task]:
    """``load_tasks`` with the notebooks' -1 = "all" limits; ``[]`` when ``names`` is empty."""
    return load_tasks(list(names), max_pairs=count_or_all(max_pairs),
                      max_queries=count_or_all(max_queries),
                      max_corpus=count_or_all(max_corpus)) if names else []


def grid_tasks(encoder: Any, tasks: Sequence[Task], **kwargs: Any) -> pd.DataFrame:
    """The cuts table (``task_grid`` keyword arguments); an empty frame without tasks."""
    return task_grid(encoder, tasks, **kwargs) if tasks else pd.DataFrame()


def save(run_dir: str | Path, cuts_before: pd.DataFrame, cuts_after: pd.DataFrame) -> list[Path]:
    """``cuts_before.csv``, ``cuts.csv`` and ``model/cuts.json`` (call after saving the model)."""
    run_dir, written = Path(run_dir), []
    for frame, name in ((cuts_before, "cuts_before.csv"), (cuts_after, "cuts.csv")):
        if not frame.empty:
            frame.to_csv(run_dir / name, index=False)
            written.append(run_dir / name)
    if not cuts_after.empty and (run_dir / "model").is_dir():
        written.append(write_cuts_json(cuts_after, run_dir / "model"))
    return written


def zero_shot_vs_trained(cuts_before: pd.DataFrame, cuts_after: pd.DataFrame) -> pd.DataFrame:
    """Per task: the full fp32 model's score before and after training, and the change."""
    if cuts_before.empty or cuts_after.empty:
        return pd.DataFrame()

    def full(frame: pd.DataFrame) -> pd.Series:
        top = frame[(frame["precision"] == "fp32") & (frame["rescore"] == 0)
                    & (frame["layer"] == frame["layer"].max()) & (frame["dim"] == frame["dim"].max())]
        return top.set_index("task")["score"]

    table = pd.DataFrame({"metric": cuts_after.drop_duplicates("task").set_index("task")["metric"],
                          "zero_shot": full(cuts_before), "trained": full(cuts_after)})
    table["change"] = table["trained"] - table["zero_shot"]
    return table
