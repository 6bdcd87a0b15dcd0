"""The picker: the cheapest cell of a cuts table that keeps enough of the full model's quality.

``pick(table, task, min_retained, minimize)`` keeps the task's healthy cells whose
``quality_retained`` (score / the full fp32 model's) is at least ``min_retained`` and returns the
one with the lowest cost (``latency``: encode ms per 1,000 texts at that depth; ``bytes``: bytes
per vector; ``search``: search ms per query), ties going to the higher score, then fewer bytes,
then lower latency. The Pareto front is ``pareto.pareto_frontier`` on (that cost, score).
A wide layer x dim ``grid.csv`` (no ``task`` column) reads as one fp32 task named ``stsb``
with score ``spearman_cosine``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from workbench.evaluators.pareto import pareto_frontier

COSTS = {"latency": "latency_ms_per_1k", "bytes": "bytes_per_vector", "search": "search_ms_per_query"}
TABLES = ("cuts.csv", "grid.csv")
"""What a run folder's cells are read from, first found first."""


@dataclass
class Pick:
    """The chosen cell (``None`` if no cell qualifies) and the task's Pareto front."""

    cell: pd.Series | None
    front: pd.DataFrame
    task: str
    cost: str
    min_retained: float


def read_cuts(path: str | Path) -> pd.DataFrame:
    """A cuts table from a csv file or a run/grid folder (``cuts.csv``, else ``grid.csv``)."""
    path = Path(path)
    if path.is_dir():
        found = next((path / n for n in TABLES if (path / n).is_file()), None)
        if found is None:
            raise FileNotFoundError(f"{path} holds none of {', '.join(TABLES)}")
        path = found
    if not path.is_file():
        raise FileNotFoundError(f"no cuts table at {path} (a cuts.csv / grid.csv or its folder)")
    frame = pd.read_csv(path)
    if "task" not in frame:
        if "spearman_cosine" not in frame:
            raise ValueError(f"{path}: neither a cuts table (task column) nor a layer x dim grid "
                             f"(spearman_cosine column); columns {list(frame.columns)}")
        frame = frame.assign(task="stsb", kind="sts", precision="fp32", rescore=0,
                             score=frame["spearman_cosine"])
        if "quality_retained" not in frame:
            full = frame.sort_values(["layer", "dim"]).iloc[-1]["score"]
            frame["quality_retained"] = frame["score"] / full
    return frame


def pick(table: pd.DataFrame, task: str, min_retained: float = 0.95,
         minimize: str = "latency") -> Pick:
    """The cheapest qualifying cell of ``task`` and its (cost, score) Pareto front."""
    if minimize not in COSTS:
        raise ValueError(f"--minimize must be one of {', '.join(COSTS)}; got '{minimize}'")
    cost = COSTS[minimize]
    if task not in set(table["task"]):
        raise ValueError(f"task '{task}' is not in the table; tasks: {sorted(set(table['task']))}")
    rows = table[table["task"] == task]
    if "status" in rows:
        rows = rows[rows["status"].fillna("ok") == "ok"]
    rows = rows.dropna(subset=["score", cost])
    if rows.empty:
        raise ValueError(f"task '{task}' has no cell with both a score and a '{cost}' value")
    ok = rows[rows["quality_retained"] >= min_retained]
    order = [cost, "score", "bytes_per_vector", "latency_ms_per_1k"]
    ascending = [True, False, True, True]
    keep = [(c, a) for c, a in zip(order, ascending, strict=True) if c in ok]
    ok = ok.sort_values([c for c, _ in keep], ascending=[a for _, a in keep], kind="stable")
    front = pareto_frontier(rows, metric="score", cost=cost)
    return Pick(None if ok.empty else ok.iloc[0], front, task, cost, min_retained)


def describe(result: Pick) -> str:
    """The pick and its front as printable text."""
    columns = [c for c in ("layer", "dim", "precision", "rescore", "score", "quality_retained",
                           "latency_ms_per_1k", "search_ms_per_query", "bytes_per_vector")
               if c in result.front]
    if result.cell is None:
        head = (f"no cell of '{result.task}' keeps {result.min_retained:.0%} of the full model")
    else:
        c = result.cell
        head = (f"cheapest cell of '{result.task}' keeping >= {result.min_retained:.0%} "
                f"(minimising {result.cost}): layer {int(c['layer'])}, dim {int(c['dim'])}, "
                f"{c.get('precision', 'fp32')}"
                + (f" rescored x{int(c['rescore'])}" if c.get("rescore", 0) else "")
                + f": score {c['score']:.4f} ({c['quality_retained']:.1%}), {c[result.cost]:.4g} "
                f"{result.cost}")
    return f"{head}\nPareto front ({result.cost} vs score):\n" + \
        result.front[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}")
