"""What a notebook writes into its run folder: tables, plots, and the summaries in metrics.json.

The notebooks stay thin: each call here turns a library object (dataset, TrainResult, loss,
encoder, grid) into the run-folder form documented in ``workbench.runs.folder``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.evaluators import pareto
from workbench.reports import plots
from workbench.runs.folder import PLOTS
from workbench.runs.schema import (
    DatasetSummary,
    LossInfo,
    ModelInfo,
    Training,
    to_dict,
)


def dataset_summary(ds: Any, name: str, split: str, tokenizer: Any = None,
                    examples: int = 3) -> dict[str, Any]:
    """``{"name", "split", "samples", "columns": {min/mean/max}, "examples": [rows]}``."""
    from workbench.data.datasets import dataset_stats

    stats = dataset_stats(ds, tokenizer)
    rows = ds.select(range(min(examples, len(ds)))).to_list()
    return to_dict(DatasetSummary(name=name, split=split, **stats, examples=rows))


def summary_table(datasets: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per dataset role: name, split, rows and mean length of each column."""
    rows = []
    for role, info in datasets.items():
        row = {"role": role, "dataset": info["name"], "split": info["split"],
               "rows": info["samples"]}
        for column, stats in info["columns"].items():
            unit = f" ({stats['unit']})" if stats.get("unit") else ""
            row[f"{column} mean{unit}"] = stats["mean"]
        rows.append(row)
    return pd.DataFrame(rows)


def final_metrics(model: Any, evaluators: Sequence[Any]) -> tuple[dict[str, float], list[Any]]:
    """Run every evaluator on the full model; merged metrics and the EvalResults."""
    results = [ev(model) for ev in evaluators]
    merged: dict[str, float] = {}
    for result in results:
        merged.update(result.metrics)
    return merged, results


def training_summary(result: Any, config: Any) -> dict[str, Any]:
    """Time, throughput, steps and hyperparameters of a ``TrainResult``; a resumed run's
    seconds and rows/s cover every part, each part listed under ``parts``."""
    parts = [{"step_from": p["step_from"], "step_to": p["step_to"], "rows": p["rows"],
              "seconds": p["seconds"], "energy_kwh": p["emissions"].get("energy_kwh"),
              "emissions_kg": p["emissions"].get("emissions_kg")}
             for p in getattr(result, "parts", None) or []]
    return to_dict(Training(seconds=result.train_seconds, rows_per_s=result.rows_per_s,
                            steps=result.global_step, rows=result.train_rows, epoch=result.epoch,
                            final_loss=result.final_loss, status=result.status, parts=parts,
                            hyperparameters=config.to_card_dict()))


def loss_summary(loss: Any) -> dict[str, Any]:
    """Name, config and BibTeX citations of a loss (for the card)."""
    return to_dict(LossInfo(name=loss.name, config=loss.config, citations=list(loss.citations)))


def model_summary(model: Any, base_model: str, kind: str) -> dict[str, Any]:
    """Base model spec, kind ("bi" | "cross"), depth and width."""
    config = model.transformer.config if kind == "bi" else model.model.config
    info = ModelInfo(base_model=base_model, kind=kind, num_layers=config.num_hidden_layers,
                     dim=config.hidden_size, model_type=config.model_type)
    if kind == "bi":
        info.pooling, info.normalize = model.pooling_mode, model.normalize
        info.max_seq_length, info.do_lower_case = model.max_seq_length, model.do_lower_case
        info.modules = list(model.stack)
    else:
        info.max_seq_length, info.pooling = model.max_length, model.pooling
    return to_dict(info)


def save_tables(out_dir: str | Path, grid_before: pd.DataFrame, grid_after: pd.DataFrame,
                train_log: pd.DataFrame) -> dict[str, Path]:
    """Write grid_before.csv, grid.csv and train_log.csv; return their paths."""
    out = Path(out_dir)
    paths = {"grid_before": out / "grid_before.csv", "grid": out / "grid.csv",
             "train_log": out / "train_log.csv"}
    grid_before.to_csv(paths["grid_before"], index=False)
    grid_after.to_csv(paths["grid"], index=False)
    train_log.to_csv(paths["train_log"], index=False)
    return paths


def save_plot(out_dir: str | Path, name: str, draw: Any,
              size: tuple[float, float] = (7.5, 4.8)) -> Path:
    """``draw(ax)`` saved as ``plots/<name>.png`` (figure closed): one plot of the run."""
    import matplotlib.pyplot as plt

    folder = Path(out_dir) / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=size)
    draw(ax)
    fig.tight_layout()
    fig.savefig(folder / f"{name}.png", dpi=110)
    plt.close(fig)
    return folder / f"{name}.png"


def save_plots(out_dir: str | Path, grid_before: pd.DataFrame, grid_after: pd.DataFrame,
               train_log: pd.DataFrame, metric: str = plots.DEFAULT_METRIC) -> dict[str, Path]:
    """Draw and save every plot of ``PLOTS`` under ``plots/`` (:func:`save_plot`)."""
    both = pd.concat([grid_before[metric], grid_after[metric]])
    scale = {"vmin": float(both.min()), "vmax": float(both.max())}
    draw = {
        "heatmap_before": lambda ax: plots.heatmap(grid_before, metric, ax, "before training",
                                                   **scale),
        "heatmap_after": lambda ax: plots.heatmap(grid_after, metric, ax, "after training",
                                                  **scale),
        "per_layer": lambda ax: plots.per_layer(grid_after, metric, ax, before=grid_before),
        "per_dim": lambda ax: plots.per_dim(grid_after, metric, ax, before=grid_before),
        "pareto": lambda ax: plots.pareto(grid_after, metric, ax),
        "training": lambda ax: plots.training_curves(train_log, ax),
    }
    return {name: save_plot(out_dir, name, draw[name], size=(6.4, 4.4)) for name in PLOTS}


def tradeoffs(grid: pd.DataFrame, metric: str = plots.DEFAULT_METRIC) -> pd.DataFrame:
    """The full model and the cheapest cells within 1% and 5% of it, with quality retained."""
    full = pareto.full_cell(grid)
    rows = [("full model", full)]
    for tol in (0.01, 0.05):
        cell = pareto.cheapest_within(grid, tol, metric)
        if cell is not None:
            rows.append((f"cheapest within {tol:.0%}", cell))
    columns = [c for c in ("layer", "dim", metric, plots.LATENCY, "bytes_per_vector")
               if c in grid.columns]
    table = pd.DataFrame([{"cell": name, **row[columns].to_dict()} for name, row in rows])
    table["retained"] = table[metric] / full[metric]
    return table


def gain_table(grid_before: pd.DataFrame, grid_after: pd.DataFrame,
               metric: str = plots.DEFAULT_METRIC) -> pd.DataFrame:
    """Layer x dim table of ``metric`` after minus before training (positive = better)."""
    after = grid_after.pivot_table(index="layer", columns="dim", values=metric)
    before = grid_before.pivot_table(index="layer", columns="dim", values=metric)
    return (after - before).sort_index(axis=1, ascending=False).round(4)
