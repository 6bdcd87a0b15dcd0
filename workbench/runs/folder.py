"""What a run folder holds, the helpers notebooks call to fill it, and its contract check.

Schema (documented in ``docs/architecture.md`` and the README)::

    run.json            written by ``workbench.runs.execute.execute`` (``workbench.runs.record``):
                        experiment, preset, parameters, status ("running" | "ok" | "failed" |
                        "interrupted"), process {pid, host, process_started}, cell and step
                        reached, attempts [...], wall_seconds (all attempts), failure/interruption
    progress.json       the training loop's position: step/total, loss, last evaluation, ETA
    FAILED.txt          only after a failure: which cell, the error, the cell's first lines
    notebook.ipynb      the executed notebook (partial after a failure)
    metrics.json        see ``write_metrics``
    grid.csv            layer x dim grid after training; grid_before.csv: the zero-shot grid
    train_log.csv       Epoch, Step, Training Loss, Validation Loss, metric columns
    train_log.jsonl     the raw log the trainer writes as it goes
    model/              the trained model, sentence-transformers layout
    plots/*.png         PLOTS below
    README.md           the model card (workbench.reports.cards)
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from workbench import atomic
from workbench.runs.record import status_line
from workbench.runs.schema import (
    FAILURE_FILE,
    METRICS_FILE,
    METRICS_KEYS,
    MetricsRecord,
    clean,
    grid_problems,
)

PLOTS = ("heatmap_before", "heatmap_after", "per_layer", "per_dim", "pareto", "training")
REQUIRED_FILES = ("notebook.ipynb", "metrics.json", "grid.csv", "grid_before.csv",
                  "train_log.csv", "model")
VERSION_PACKAGES = ("torch", "transformers", "datasets", "accelerate", "tokenizers",
                    "sentence-transformers", "codecarbon", "workbench")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def versions() -> dict[str, str]:
    """Python and package versions for metrics.json and the card."""
    found = {"python": platform.python_version()}
    for name in VERSION_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def write_metrics(out_dir: str | Path, *, experiment: str, preset: str,
                  parameters: Mapping[str, Any], metrics: Mapping[str, float],
                  grid_before: pd.DataFrame, grid_after: pd.DataFrame,
                  health: Mapping[str, Any], training: Mapping[str, Any],
                  emissions: Mapping[str, Any] | None, model: Mapping[str, Any],
                  datasets: Mapping[str, Any], loss: Mapping[str, Any]) -> Path:
    """Write ``metrics.json`` (a :class:`MetricsRecord`: every key typed, NaN written as null).

    Sections may be dicts or the schema's dataclasses; a key the schema lacks raises.
    """
    record = clean({"experiment": experiment, "preset": preset, "parameters": parameters,
                    "metrics": metrics, "grid_before": grid_before, "grid_after": grid_after,
                    "health": health, "training": training, "emissions": emissions,
                    "versions": versions(), "model": model, "datasets": datasets, "loss": loss})
    return atomic.write_json(Path(out_dir) / METRICS_FILE, clean(MetricsRecord.from_dict(record)))


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    """``metrics.json`` of a run folder, grids as DataFrames."""
    data = json.loads((Path(run_dir) / METRICS_FILE).read_text())
    for key in ("grid_before", "grid_after"):
        data[key] = pd.DataFrame(data.get(key) or [])
    return data


def _finite_problems(metrics: Mapping[str, Any], degenerate: bool) -> list[str]:
    if not metrics:
        return ["metrics.json: 'metrics' is empty"]
    if degenerate:
        return []
    return [f"metrics.json: metric {k} = {v!r} is not finite" for k, v in metrics.items()
            if not isinstance(v, int | float) or not math.isfinite(v)]


def _metrics_problems(path: Path) -> list[str]:
    try:
        data = json.loads((path / METRICS_FILE).read_text())
    except (OSError, ValueError) as err:
        return [f"metrics.json unreadable: {err}"]
    problems = [f"metrics.json lacks key '{k}'" for k in METRICS_KEYS if k not in data]
    if not problems:
        try:
            MetricsRecord.from_dict(data)
        except (TypeError, ValueError) as err:
            problems.append(f"metrics.json does not fit the schema: {err}")
    degenerate = (data.get("health") or {}).get("status") == "degenerate"
    problems += _finite_problems(data.get("metrics") or {}, degenerate)
    if not data.get("grid_after"):
        problems.append("metrics.json: grid_after has no rows")
    return problems


def check_run_folder(path: str | Path) -> list[str]:
    """Every way ``path`` breaks the run-folder contract (an empty list means it holds).

    Checks: run.json (when present) says ``ok`` (a ``running`` run whose process is gone is
    reported stale), required files present, metrics.json complete with finite final metrics
    (a run marked degenerate may hold nulls), grids non-empty, every plot a non-empty PNG, a
    model folder with weights, no ``FAILED.txt``.
    """
    path = Path(path)
    if not path.is_dir():
        return [f"{path} is not a folder"]
    status = status_line(path)
    problems = [f"run.json: {status}"] if status else []
    problems += [f"missing {name}" for name in REQUIRED_FILES if not (path / name).exists()]
    if (path / FAILURE_FILE).exists():
        problems.append("FAILED.txt present: " + (path / FAILURE_FILE).read_text().splitlines()[0])
    if (path / METRICS_FILE).exists():
        problems += _metrics_problems(path)
    for name in ("grid.csv", "grid_before.csv"):
        if (path / name).exists():
            problems += grid_problems(pd.read_csv(path / name), name)
    for name in PLOTS:
        png = path / "plots" / f"{name}.png"
        if not png.exists() or png.stat().st_size <= len(PNG_MAGIC):
            problems.append(f"plot {png.name} missing or empty")
        elif png.read_bytes()[:8] != PNG_MAGIC:
            problems.append(f"plot {png.name} is not a PNG")
    if (path / "model").is_dir() and not any((path / "model").rglob("*.safetensors")):
        problems.append("model/ holds no .safetensors weights")
    return problems
