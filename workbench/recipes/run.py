"""The shared start and finish of an experiment notebook.

Start: the notebook's parameters (read from its namespace right after the ``parameters`` cell,
never from the notebook file) -> the run folder, the base model spec and
``TrainConfig.from_params``. Finish: plots -> tables -> the saved model -> ``metrics.json`` ->
the card. What differs between experiments (data, loss, evaluators, what to look at) stays in
the notebook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.evaluators.pareto import DEFAULT_METRIC
from workbench.recipes import artifacts
from workbench.runs import execute, folder
from workbench.training.config import TrainConfig


def notebook_parameters(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The notebook's parameters with their current values: the names its ``parameters`` cell
    declares with a type (``seed: int = 42``, recorded in the namespace's ``__annotations__``),
    valued as papermill's injected cell or the user left them."""
    declared = namespace.get("__annotations__") or {}
    if not declared:
        raise ValueError("no parameters found: declare them in the parameters cell as "
                         "`name: type = value` and call recipes.start(experiment, globals())")
    return {name: namespace[name] for name in declared if name in namespace}


def _limit(value: int) -> int | None:
    return None if value < 0 else value


@dataclass
class Run:
    """One experiment run as a notebook drives it: parameters in, run folder out."""

    experiment: str
    parameters: dict[str, Any]
    dir: Path
    base_model: str
    config: TrainConfig
    metric: str = DEFAULT_METRIC
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)
    trackers: Any = None

    @property
    def train_limit(self) -> int | None:
        """``max_train_samples`` as ``load_dataset``'s ``max_samples`` (-1: all rows)."""
        return _limit(self.parameters.get("max_train_samples", -1))

    @property
    def eval_limit(self) -> int | None:
        return _limit(self.parameters.get("max_eval_samples", -1))

    @property
    def resume_from(self) -> str | None:
        return self.parameters.get("resume_from_checkpoint") or None

    def describe(self, tokenizer: Any, **roles: tuple[Any, str, str]) -> pd.DataFrame:
        """Summarise each dataset (``role=(dataset, hub name, split)``) for metrics.json and the
        card; returns the one-row-per-role table shown in the notebook."""
        for role, (dataset, name, split) in roles.items():
            self.datasets[role] = artifacts.dataset_summary(dataset, name, split, tokenizer)
        return artifacts.summary_table(self.datasets)

    def open_trackers(self, grid_before: pd.DataFrame) -> Any:
        """The experiment trackers of ``report_to`` (``training.trackers``), the zero-shot grid
        logged; ``evaluate`` logs the final grid and metrics and closes them."""
        from workbench.training.trackers import open_trackers

        self.trackers = open_trackers(self.parameters.get("report_to", "none"), self.dir,
                                      params=self.parameters)
        self.trackers.log_table("grid_before", grid_before, step=0)
        return self.trackers

    def evaluate(self, model: Any, evaluators: Sequence[Any], result: Any,
                 grid_after: pd.DataFrame) -> dict[str, float]:
        """The final metrics of every evaluator and the run's health; prints the health."""
        self.metrics, final_results = artifacts.final_metrics(model, evaluators)
        if self.trackers is not None:
            self.trackers.log_table("grid_after", grid_after, step=result.global_step)
            self.trackers.log_metrics({f"final/{k}": v for k, v in self.metrics.items()},
                                      step=result.global_step)
            self.trackers.close()
        self.health = artifacts.health_summary(result, final_results)
        print(self.health["status"], self.health["diagnosis"] or "")
        return self.metrics

    def finish(self, model: Any, loss: Any, result: Any, grid_before: pd.DataFrame,
               grid_after: pd.DataFrame, kind: str = "bi") -> Path:
        """Plots, tables, the saved model, ``metrics.json`` and the card; shows plots and tables."""
        from IPython.display import Image, display

        from workbench.reports.cards import write_card

        paths = artifacts.save_plots(self.dir, grid_before, grid_after, result.log, self.metric)
        for path in paths.values():
            display(Image(filename=str(path)))
        artifacts.save_tables(self.dir, grid_before, grid_after, result.log)
        display(artifacts.tradeoffs(grid_after, self.metric))
        display(artifacts.gain_table(grid_before, grid_after, self.metric))
        model.save(self.dir / "model")
        self._write_metrics(model, loss, result, grid_before, grid_after, kind)
        card = write_card(self.dir)
        print(f"{card}\nrun folder: {self.dir}")
        return card

    def _write_metrics(self, model: Any, loss: Any, result: Any, grid_before: pd.DataFrame,
                       grid_after: pd.DataFrame, kind: str) -> Path:
        return folder.write_metrics(
            self.dir, experiment=self.experiment, preset=self.parameters["preset"],
            parameters=self.parameters, metrics=self.metrics, grid_before=grid_before,
            grid_after=grid_after, health=self.health,
            training=artifacts.training_summary(result, self.config), emissions=result.emissions,
            model=artifacts.model_summary(model, self.parameters["model"], kind),
            datasets=self.datasets, loss=artifacts.loss_summary(loss))


def start(experiment: str, namespace: Mapping[str, Any], metric: str = DEFAULT_METRIC) -> Run:
    """The run a notebook starts: its parameters (checked: type, range, data, model, see
    ``runs.execute.check_parameters``), run folder, base model and ``TrainConfig``."""
    parameters = execute.check_parameters(experiment, notebook_parameters(namespace))
    run_dir = execute.prepare_out_dir(parameters["out_dir"], experiment, parameters["preset"])
    run = Run(experiment, parameters, run_dir, execute.base_model(parameters["model"], run_dir),
              TrainConfig.from_params(parameters, output_dir=str(run_dir)), metric)
    print(f"run folder: {run_dir}")
    return run
