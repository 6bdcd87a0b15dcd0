"""Experiment tracking (``report_to``, as in Hugging Face ``TrainingArguments``).

One small interface, :class:`Tracker` (``log_params``, ``log_metrics``, ``log_table``,
``close``), with one class per backend: TensorBoard (event files in ``<run>/tensorboard/``),
Trackio, MLflow and Weights & Biases (each when its package is installed; asking for a missing
one is a :class:`ConfigError` naming the package). :class:`Trackers` fans out to every chosen
backend and listens to the training log, so losses, evaluations and health checks reach the
trackers as they reach ``train_log.jsonl``. Values of ``report_to``: ``"none"``, one name,
a comma-separated string or a list of names, or ``"all"`` (every installed backend).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

PACKAGES = {"tensorboard": "tensorboard", "trackio": "trackio", "mlflow": "mlflow",
            "wandb": "wandb"}
"""report_to name -> the package it needs."""
PROJECT = "workbench"


class TrackerError(ValueError):
    """A ``report_to`` value that cannot work (unknown name, or its package is missing)."""


def parse_report_to(value: str | Sequence[str] | None) -> list[str]:
    """Backend names of a ``report_to`` value (checked; ``"all"`` = every installed one)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [v.strip(" '\"") for v in value.strip("[] ").split(",") if v.strip(" '\"")]
    names = [str(v).lower() for v in value]
    if names in ([], ["none"]):
        return []
    if names == ["all"]:
        return [n for n, pkg in PACKAGES.items() if importlib.util.find_spec(pkg) is not None]
    unknown = [n for n in names if n not in PACKAGES]
    if unknown:
        raise TrackerError(f"unknown report_to {', '.join(unknown)}; choose from none, all, "
                           f"{', '.join(PACKAGES)} (or a list of them)")
    missing = [n for n in names if importlib.util.find_spec(PACKAGES[n]) is None]
    if missing:
        raise TrackerError(f"report_to {missing[0]} needs the package '{PACKAGES[missing[0]]}', "
                           f"which is not installed: pip install {PACKAGES[missing[0]]}")
    return list(dict.fromkeys(names))


def _finite(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}


class Tracker:
    """One backend. Subclasses implement the four calls; values are plain Python."""

    name = "base"

    def log_params(self, params: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        raise NotImplementedError

    def log_table(self, name: str, table: pd.DataFrame, step: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class TensorBoardTracker(Tracker):
    """``torch.utils.tensorboard.SummaryWriter`` into ``<folder>/tensorboard/``. Tables become
    markdown text plus one scalar per numeric cell: ``<table>/<column>/<first column values>``."""

    name = "tensorboard"

    def __init__(self, folder: str | Path, run_name: str, params: Mapping[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(folder) / "tensorboard"
        self.writer = SummaryWriter(log_dir=str(self.log_dir))

    def log_params(self, params: Mapping[str, Any]) -> None:
        rows = "\n".join(f"| {k} | {v!r} |" for k, v in params.items())
        self.writer.add_text("hyperparameters", "| name | value |\n|---|---|\n" + rows, 0)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        for key, value in _finite(metrics).items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def log_table(self, name: str, table: pd.DataFrame, step: int) -> None:
        self.writer.add_text(name, table.to_markdown(index=False) if _has_tabulate()
                             else table.to_string(index=False), step)
        keys = [c for c in ("layer", "dim") if c in table.columns]
        for _, row in table.iterrows():
            cell = "_".join(f"{k}{int(row[k])}" for k in keys) or str(row.name)
            values = {f"{name}/{col}/{cell}": row[col] for col in table.columns
                      if col not in keys}
            for key, value in _finite(values).items():
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _has_tabulate() -> bool:
    return importlib.util.find_spec("tabulate") is not None


class _LogTracker(Tracker):
    """Backends with one ``log(dict, step=)`` call and a ``Table(dataframe=)`` type: ``sink``
    has ``log`` and ``finish`` (the trackio module, or a wandb run)."""

    module: Any
    sink: Any

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.sink.log(_finite(metrics), step=step)

    def log_table(self, name: str, table: pd.DataFrame, step: int) -> None:
        self.sink.log({name: self.module.Table(dataframe=table)}, step=step)

    def close(self) -> None:
        self.sink.finish()


class TrackioTracker(_LogTracker):
    """``trackio.init(project, name, config)``, ``trackio.log``, ``trackio.Table``."""

    name = "trackio"

    def __init__(self, folder: str | Path, run_name: str, params: Mapping[str, Any]) -> None:
        self.module = self.sink = importlib.import_module("trackio")
        self.module.init(project=PROJECT, name=run_name, config=dict(params), resume="allow")

    def log_params(self, params: Mapping[str, Any]) -> None:
        return None  # trackio takes the config at init


class MLflowTracker(Tracker):
    """``mlflow.start_run(run_name)``, ``log_params``, ``log_metrics``, ``log_table``
    (tracking URI from ``MLFLOW_TRACKING_URI``, as MLflow itself reads it)."""

    name = "mlflow"

    def __init__(self, folder: str | Path, run_name: str, params: Mapping[str, Any]) -> None:
        self.module = importlib.import_module("mlflow")
        self.module.set_experiment(PROJECT)
        self.run = self.module.start_run(run_name=run_name)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.module.log_params({k: str(v)[:500] for k, v in params.items()})

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.module.log_metrics(_finite(metrics), step=step)

    def log_table(self, name: str, table: pd.DataFrame, step: int) -> None:
        self.module.log_table(data=table, artifact_file=f"{name}.json")

    def close(self) -> None:
        self.module.end_run()


class WandbTracker(_LogTracker):
    """``wandb.init(project, name, config, dir)``, ``run.log``, ``wandb.Table`` (project from
    ``WANDB_PROJECT``; ``WANDB_MODE=offline`` works without a network)."""

    name = "wandb"

    def __init__(self, folder: str | Path, run_name: str, params: Mapping[str, Any]) -> None:
        import os

        self.module = importlib.import_module("wandb")
        self.sink = self.module.init(project=os.environ.get("WANDB_PROJECT", PROJECT),
                                     name=run_name, config=dict(params), dir=str(folder))

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.sink.config.update(dict(params), allow_val_change=True)


BACKENDS: dict[str, type[Tracker]] = {"tensorboard": TensorBoardTracker,
                                       "trackio": TrackioTracker, "mlflow": MLflowTracker,
                                       "wandb": WandbTracker}


class Trackers:
    """Every chosen backend behind the one interface; also a training-log listener.

    Log events become metrics: ``train`` -> ``train/loss``, ``train/learning_rate``; ``eval`` ->
    ``eval/<metric>``, ``eval/loss``; ``health`` -> ``health/probe_mean_cosine``,
    ``health/probe_std_max``. An empty ``Trackers`` (``report_to="none"``) does nothing.
    """

    def __init__(self, trackers: Sequence[Tracker] = ()) -> None:
        self.trackers = list(trackers)
        self.closed = False

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def log_params(self, params: Mapping[str, Any]) -> None:
        for tracker in self.trackers:
            tracker.log_params(params)

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        values = _finite(metrics)
        if values:
            for tracker in self.trackers:
                tracker.log_metrics(values, step)

    def log_table(self, name: str, table: pd.DataFrame, step: int) -> None:
        for tracker in self.trackers:
            tracker.log_table(name, table, step)

    def __call__(self, event: Mapping[str, Any]) -> None:
        """A :class:`workbench.training.log.TrainLog` listener."""
        kind, step = event.get("type"), int(event.get("step") or 0)
        if kind == "train":
            self.log_metrics({"train/loss": event.get("loss"),
                              "train/learning_rate": event.get("learning_rate")}, step)
        elif kind == "eval":
            metrics = {f"eval/{k}": v for k, v in (event.get("metrics") or {}).items()}
            self.log_metrics({**metrics, "eval/loss": event.get("eval_loss")}, step)
        elif kind == "health":
            self.log_metrics({f"health/{k}": event.get(k)
                              for k in ("probe_mean_cosine", "probe_std_max")}, step)

    def close(self) -> None:
        if not self.closed:
            for tracker in self.trackers:
                tracker.close()
            self.closed = True


def open_trackers(report_to: str | Sequence[str] | None, folder: str | Path | None,
                  run_name: str | None = None,
                  params: Mapping[str, Any] | None = None) -> Trackers:
    """The backends ``report_to`` names, opened, with ``params`` logged as hyperparameters."""
    names = parse_report_to(report_to)
    if names and folder is None:
        raise TrackerError("report_to needs an output folder (output_dir)")
    name = run_name or (Path(folder).name if folder is not None else PROJECT)
    params = dict(params or {})
    opened = Trackers([BACKENDS[n](folder, name, params) for n in names])
    opened.log_params(params)
    return opened
