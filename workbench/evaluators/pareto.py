"""Reading a layer x dimension grid: the full model's cell, the Pareto frontier, the cheapest cut.

A grid is a DataFrame with one row per (``layer``, ``dim``) cell, a quality column (default
``spearman_cosine``) and cost columns (``latency_ms_per_1k``, optionally ``bytes_per_vector``).
A cell is on the Pareto frontier when no other cell is both cheaper and better.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

DEFAULT_METRIC = "spearman_cosine"
LATENCY = "latency_ms_per_1k"


def check_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise ``KeyError`` naming the columns ``df`` lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"{what} lacks column(s) {missing}; it has {list(df.columns)}")


def full_cell(grid: pd.DataFrame) -> pd.Series:
    """The row of the full model: the largest layer, then the largest dimension."""
    check_columns(grid, ["layer", "dim"], "grid")
    top = grid[grid["layer"] == grid["layer"].max()]
    return top.loc[top["dim"].idxmax()]


def pareto_frontier(grid: pd.DataFrame, metric: str = DEFAULT_METRIC,
                    cost: str = LATENCY) -> pd.DataFrame:
    """Cells no other cell beats on both cost (lower) and quality (higher), sorted by cost."""
    check_columns(grid, ["layer", "dim", metric, cost], "grid")
    cells = grid.dropna(subset=[metric, cost]).sort_values([cost, metric], ascending=[True, False])
    keep, best = [], -math.inf
    for idx, value in cells[metric].items():
        if value > best:
            keep.append(idx)
            best = value
    return cells.loc[keep]


def cheapest_within(grid: pd.DataFrame, tolerance: float, metric: str = DEFAULT_METRIC,
                    cost: str = LATENCY) -> pd.Series | None:
    """The cheapest cell whose quality is at least ``(1 - tolerance)`` x the full model's.

    ``tolerance`` is relative (0.01 = within 1%). Ties on cost go to fewer bytes per vector.
    Returns ``None`` when the full model's quality is missing or not positive.
    """
    reference = full_cell(grid)[metric]
    if not np.isfinite(reference) or reference <= 0:
        return None
    ok = grid[grid[metric] >= (1.0 - tolerance) * reference].dropna(subset=[cost])
    if ok.empty:
        return None
    order = [cost, "bytes_per_vector"] if "bytes_per_vector" in ok.columns else [cost]
    return ok.sort_values(order).iloc[0]


def cheapest_pipeline(frame: pd.DataFrame, within: float = 0.05, metric: str = "ndcg@10",
                      cost: str = "latency_ms_per_query") -> pd.Series | None:
    """The cheapest pipeline whose ``metric`` is at least ``(1 - within)`` x the best one's."""
    if frame.empty or not np.isfinite(frame[metric]).any():
        return None
    good = frame[frame[metric] >= (1.0 - within) * frame[metric].max()]
    return good.sort_values([cost, metric], ascending=[True, False]).iloc[0]
