"""Plots over layer x dimension grids and training logs.

Every function is pure: it takes a DataFrame and an optional matplotlib ``ax``, draws on it and
returns it. Nothing here calls ``show()`` or saves a file (``workbench.runs.folder`` saves).

Grid input: one row per cell with columns ``layer``, ``dim``, a quality column (default
``spearman_cosine``) and, for the Pareto plot, ``latency_ms_per_1k`` (and optionally
``bytes_per_vector``). Train-log input: the DataFrame of ``workbench.training`` (columns
``Step``, ``Training Loss``, ``Validation Loss`` and metric columns; "-" or NaN where a row has no
value).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from workbench.evaluators.pareto import (
    DEFAULT_METRIC,
    LATENCY,
    cheapest_pipeline,
    cheapest_within,
    check_columns,
    full_cell,
    pareto_frontier,
)

LOG_COLUMNS = ("Epoch", "Step", "Training Loss", "Validation Loss")


def _axes(ax: Axes | None, figsize: tuple[float, float] = (6.0, 4.0)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize).add_subplot()


def heatmap(grid: pd.DataFrame, metric: str = DEFAULT_METRIC, ax: Axes | None = None,
            title: str | None = None, vmin: float | None = None,
            vmax: float | None = None) -> Axes:
    """Layer (rows) x dimension (columns) heatmap of ``metric`` with the values written in."""
    check_columns(grid, ["layer", "dim", metric], "grid")
    ax = _axes(ax)
    table = grid.pivot_table(index="layer", columns="dim", values=metric, aggfunc="mean")
    table = table.sort_index(ascending=False).sort_index(axis=1)
    image = ax.imshow(table.to_numpy(dtype=float), cmap="viridis", aspect="auto",
                      vmin=vmin, vmax=vmax)
    ax.set_xticks(range(table.shape[1]), [str(d) for d in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(layer) for layer in table.index])
    ax.set_xlabel("dimensions kept")
    ax.set_ylabel("layers kept")
    for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
        text = "nan" if not np.isfinite(value) else f"{value:.3f}"
        ax.text(j, i, text, ha="center", va="center", color="white", fontsize=8)
    ax.figure.colorbar(image, ax=ax, label=metric)
    ax.set_title(title or f"{metric} per layer x dimension")
    return ax


def _lines(grid: pd.DataFrame, x: str, series: str, metric: str, ax: Axes,
           before: pd.DataFrame | None) -> Axes:
    check_columns(grid, [x, series, metric], "grid")
    for key, part in grid.sort_values(x).groupby(series, sort=True):
        line, = ax.plot(part[x], part[metric], marker="o", label=f"{series} {key}")
        if before is not None:
            old = before[before[series] == key].sort_values(x)
            ax.plot(old[x], old[metric], linestyle="--", color=line.get_color(), alpha=0.6)
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, title="dashed: before training" if before is not None else None,
              title_fontsize=7)
    return ax


def per_layer(grid: pd.DataFrame, metric: str = DEFAULT_METRIC, ax: Axes | None = None,
              before: pd.DataFrame | None = None) -> Axes:
    """Quality against the number of layers kept, one line per dimension (dashed: ``before``)."""
    ax = _lines(grid, "layer", "dim", metric, _axes(ax), before)
    ax.set_xticks(sorted(grid["layer"].unique()))
    ax.set_title(f"{metric} per layer")
    return ax


def per_dim(grid: pd.DataFrame, metric: str = DEFAULT_METRIC, ax: Axes | None = None,
            before: pd.DataFrame | None = None) -> Axes:
    """Quality against the dimensions kept (log scale), one line per layer."""
    ax = _lines(grid, "dim", "layer", metric, _axes(ax), before)
    dims = sorted(grid["dim"].unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(dims, [str(d) for d in dims])
    ax.minorticks_off()
    ax.set_title(f"{metric} per dimension")
    return ax


def pareto(grid: pd.DataFrame, metric: str = DEFAULT_METRIC, ax: Axes | None = None,
           tolerances: Sequence[float] = (0.01, 0.05)) -> Axes:
    """Quality against measured latency: every cell, the frontier, and the cheapest cell
    within each tolerance (relative) of the full model."""
    ax = _axes(ax)
    cells = grid.dropna(subset=[metric, LATENCY])
    ax.scatter(cells[LATENCY], cells[metric], s=18, color="0.6", label="cells")
    front = pareto_frontier(grid, metric)
    ax.plot(front[LATENCY], front[metric], color="C0", marker="o", label="Pareto frontier")
    full = full_cell(grid)
    ax.scatter([full[LATENCY]], [full[metric]], marker="s", s=60, color="k",
               label=f"full model L{int(full['layer'])}/{int(full['dim'])}", zorder=3)
    for tol, color in zip(tolerances, ("C2", "C3", "C4", "C5"), strict=False):
        cell = cheapest_within(grid, tol, metric)
        if cell is not None:
            ax.scatter([cell[LATENCY]], [cell[metric]], marker="*", s=160, color=color, zorder=4,
                       label=f"cheapest within {tol:.0%}: L{int(cell['layer'])}/{int(cell['dim'])}")
    ax.set_xlabel("latency (ms per 1k sentences, measured)")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("quality vs latency")
    return ax


def _numeric(log: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(log[column].replace("-", np.nan), errors="coerce")


HEADLINE_SUFFIXES = ("spearman_cosine", "_spearman", "max_ap", "cosine_ap")


def eval_metric_columns(log: pd.DataFrame, headline: bool = True) -> list[str]:
    """The metric columns of a training log (everything but epoch/step/losses).

    ``headline=True`` keeps the seed cards' headline metrics (``*spearman_cosine``,
    ``*_spearman``, ``*max_ap``) when there are any.
    """
    names = [c for c in log.columns if c not in LOG_COLUMNS and c.lower() != "loss"
             and _numeric(log, c).notna().any()]
    chosen = [c for c in names if c.endswith(HEADLINE_SUFFIXES)] if headline else names
    return chosen or names


def training_curves(log: pd.DataFrame, ax: Axes | None = None,
                    metrics: Sequence[str] | None = None) -> Axes:
    """Training (and validation) loss against step; eval metrics on a second y axis."""
    check_columns(log, ["Step", "Training Loss"], "training log")
    ax = _axes(ax)
    step = _numeric(log, "Step")
    for column, style in (("Training Loss", "-"), ("Validation Loss", "--")):
        if column in log.columns:
            values = _numeric(log, column)
            mask = values.notna()
            if mask.any():
                ax.plot(step[mask], values[mask], style, color="C0", label=column)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    names = list(metrics) if metrics is not None else eval_metric_columns(log)
    if names:
        twin = ax.twinx()
        for i, name in enumerate(names):
            values = _numeric(log, name)
            mask = values.notna()
            twin.plot(step[mask], values[mask], marker="o", color=f"C{i + 1}", label=name)
        twin.set_ylabel("eval metric")
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    if handles:
        ax.legend(handles, labels, fontsize=7)
    ax.set_title("training curves")
    return ax


def pipelines(frame: pd.DataFrame, metric: str = "ndcg@10", ax: Axes | None = None,
              tolerances: Sequence[float] = (0.01, 0.05),
              cost: str = "latency_ms_per_query") -> Axes:
    """Retrieve-then-rerank pipelines: quality against measured latency per query (log scale),
    coloured by reranker depth (0: retrieval alone), the frontier, and the cheapest pipeline
    within each tolerance of the best."""
    check_columns(frame, ["layer", "dim", "rerank_depth", metric, cost], "pipelines")
    ax = _axes(ax)
    for i, (depth, rows) in enumerate(frame.groupby("rerank_depth")):
        ax.scatter(rows[cost], rows[metric], s=22, color=f"C{i}",
                   label="retrieval alone" if depth == 0 else f"reranker at {depth} layers")
    front = pareto_frontier(frame, metric, cost)
    ax.plot(front[cost], front[metric], color="0.3", lw=1, label="Pareto frontier")
    for tol, marker_color in zip(tolerances, ("C8", "C9"), strict=False):
        best = cheapest_pipeline(frame, tol, metric, cost)
        if best is not None:
            ax.scatter([best[cost]], [best[metric]], marker="*", s=200, color=marker_color,
                       zorder=4, label=f"cheapest within {tol:.0%}: L{int(best['layer'])}/"
                       f"{int(best['dim'])} + rerank {int(best['rerank_depth'])}")
    ax.set_xscale("log")
    ax.set_xlabel("latency per query, ms (measured: encode + search + rerank)")
    ax.set_ylabel(metric)
    ax.set_title(f"retrieve then rerank: {metric} vs latency")
    ax.legend(fontsize=7)
    return ax
