"""Read run folders and put runs side by side: differing parameters, headline metrics.

Only the run-folder files (docs/architecture.md) are read; nothing here re-runs a model.
The side-by-side plots live in ``workbench.reports.compare_plots``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from workbench import settings
from workbench.errors import FolderError
from workbench.evaluators import pareto
from workbench.runs.record import effective_status, status_line
from workbench.runs.schema import (
    METRICS_FILE,
    QUALITY_COLUMNS,
    DatasetSummary,
    Emissions,
    from_dict,
)


@dataclass
class RunView:
    """The files of one run folder, read once."""

    path: Path
    info: dict = field(default_factory=dict)
    grid: pd.DataFrame = field(default_factory=pd.DataFrame)
    grid_before: pd.DataFrame = field(default_factory=pd.DataFrame)
    train_log: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def kind(self) -> str:
        return self.info.get("model", {}).get("kind", "bi")

    @property
    def parameters(self) -> dict:
        return self.info.get("parameters", {})

    @property
    def metrics(self) -> dict[str, float]:
        return self.info.get("metrics", {})

    @property
    def health(self) -> dict:
        return self.info.get("health") or {"status": "ok", "diagnosis": None}

    @property
    def datasets(self) -> dict[str, DatasetSummary]:
        return {role: from_dict(DatasetSummary, d)
                for role, d in (self.info.get("datasets") or {}).items()}

    @property
    def emissions(self) -> Emissions | None:
        data = self.info.get("emissions")
        return from_dict(Emissions, data) if data else None

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def record_note(self) -> str | None:
        """What run.json says when the run is not a finished ``ok`` run (stale, interrupted,
        failed, still running), else ``None``."""
        return status_line(self.path)


def _read_csv(path: Path, rows: list | None = None) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame(rows or [])


def load_run(run_dir: str | Path) -> RunView:
    """Read ``metrics.json``, ``grid.csv``, ``grid_before.csv`` and ``train_log.csv``."""
    path = Path(run_dir)
    metrics_file = path / METRICS_FILE
    if not metrics_file.exists():
        raise FolderError(f"{path} is not a run folder: it holds no {METRICS_FILE}")
    try:
        info = json.loads(metrics_file.read_text())
    except ValueError as err:
        raise FolderError(f"{metrics_file} is not valid JSON ({err})") from None
    return RunView(path=path, info=info,
                   grid=_read_csv(path / "grid.csv", info.get("grid_after")),
                   grid_before=_read_csv(path / "grid_before.csv", info.get("grid_before")),
                   train_log=_read_csv(path / "train_log.csv"))


def latest_runs(n: int = 2, root: str | Path | None = None) -> list[Path]:
    """The ``n`` most recent run folders under ``root`` (default ``WORKBENCH_RUNS``)."""
    root = Path(root) if root is not None else settings.runs_dir()
    runs = sorted(p.parent for p in root.glob("*/metrics.json"))
    return runs[-n:]


def quality_column(grid: pd.DataFrame) -> str:
    """The grid column used as quality (``spearman_cosine`` for bi-encoders)."""
    for name in QUALITY_COLUMNS:
        if name in grid.columns:
            return name
    raise ValueError(f"the grid has no quality column; expected one of {QUALITY_COLUMNS}")


def differing_parameters(runs: Sequence[RunView]) -> pd.DataFrame:
    """Parameters whose values differ between runs (rows: parameter, columns: run)."""
    names = sorted({k for run in runs for k in run.parameters})
    table = pd.DataFrame({run.name: [repr(run.parameters.get(k, "—")) for k in names]
                          for run in runs}, index=pd.Index(names, name="parameter"))
    return table[table.nunique(axis=1) > 1]


def headline_metrics(runs: Sequence[RunView]) -> pd.DataFrame:
    """Final metrics, health, training time and full/cheapest-cell quality per run."""
    rows = {}
    for run in runs:
        row: dict = {"experiment": run.info.get("experiment"), "preset": run.info.get("preset"),
                     "run": effective_status(run.path), "status": run.health.get("status"),
                     "train_seconds": run.info.get("training", {}).get("seconds")}
        row.update(run.metrics)
        if not run.grid.empty:
            row.update(_cheapest_summary(run.grid))
        rows[run.name] = row
    return pd.DataFrame(rows)


def _cheapest_summary(grid: pd.DataFrame) -> dict:
    quality = quality_column(grid)
    full = pareto.full_cell(grid)
    best = cheapest_within(grid, 0.05)
    return {f"full_{quality}": float(full[quality]),
            "cheapest_5pct_cell": f"L{int(best['layer'])} d{int(best['dim'])}" if best is not None
            else "—"}


def cheapest_within(grid: pd.DataFrame, tolerance: float) -> pd.Series | None:
    """``pareto.cheapest_within`` on the grid's own quality column."""
    return pareto.cheapest_within(grid, tolerance, quality_column(grid))


def compare_runs(run_dirs: Sequence[str | Path]) -> dict[str, pd.DataFrame]:
    """Tables for ``workbench compare``: differing parameters and headline metrics."""
    runs = [load_run(d) for d in run_dirs]
    return {"parameters": differing_parameters(runs), "metrics": headline_metrics(runs)}
