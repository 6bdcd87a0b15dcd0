"""Runs side by side as plots: layer x dim grids as small multiples, Pareto frontiers of quality
against latency. Like ``workbench.reports.plots``, they take ``ax``/``axes`` and return them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from workbench.evaluators.pareto import pareto_frontier
from workbench.reports import plots
from workbench.runs.compare import RunView, quality_column


def plot_pareto_runs(runs: Sequence[RunView], ax=None, cost: str = "latency_ms_per_1k"):
    """Every run's cells (dots) and Pareto frontier (line) on one quality-vs-cost axis."""
    import matplotlib.pyplot as plt

    ax = ax if ax is not None else plt.gca()
    for run in runs:
        if run.grid.empty:
            continue
        quality = quality_column(run.grid)
        dots = ax.scatter(run.grid[cost], run.grid[quality], s=12, alpha=0.35)
        front = pareto_frontier(run.grid, quality, cost)
        ax.plot(front[cost], front[quality], marker="o", color=dots.get_facecolor()[0],
                label=run.name)
        for _, row in front.iterrows():
            ax.annotate(f"L{int(row['layer'])}/d{int(row['dim'])}", (row[cost], row[quality]),
                        fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(cost.replace("_", " "))
    ax.set_ylabel("quality")
    ax.set_title("Pareto frontier: quality against cost")
    ax.legend(fontsize=8)
    return ax


def plot_grid_multiples(runs: Sequence[RunView], axes=None):
    """One layer x dim heatmap per run (``plots.heatmap``) on a shared colour scale."""
    import matplotlib.pyplot as plt

    grids = [run for run in runs if not run.grid.empty]
    if axes is None:
        _, axes = plt.subplots(1, max(1, len(grids)), figsize=(5 * max(1, len(grids)), 3.8),
                               squeeze=False)
    flat = list(getattr(axes, "flat", axes))
    values = pd.concat([run.grid[quality_column(run.grid)] for run in grids]) if grids else None
    scale = {"vmin": float(values.min()), "vmax": float(values.max())} if grids else {}
    for ax, run in zip(flat, grids, strict=False):
        plots.heatmap(run.grid, quality_column(run.grid), ax, title=run.name, **scale)
        ax.title.set_fontsize(8)
    return axes
