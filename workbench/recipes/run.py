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
from workbench.recipes import artifacts, cuts
from workbench.runs import execute, folder
from workbench.runs.parameters import count_or_all
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


def declared_types(namespace: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """``{name: {"inferred_type_name", "default"}}`` (papermill's shape) from the namespace's
    annotations, so the checks never re-read the notebook file while it runs."""
    return {name: {"inferred_type_name": getattr(kind, "__name__", str(kind)),
                   "default": repr(namespace.get(name))}
            for name, kind in (namespace.get("__annotations__") or {}).items()}


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
    result: Any = None
    cuts: dict[str, pd.DataFrame] = field(default_factory=dict)
    extra_plots: list[Path] = field(default_factory=list)
    _tasks: list[Any] | None = None

    def limit(self, name: str) -> int | None:
        """The row-count parameter ``name`` as the loaders take it (-1: all rows -> ``None``)."""
        return count_or_all(self.parameters.get(name, -1))

    @property
    def train_limit(self) -> int | None:
        """``max_train_samples`` as ``load_dataset``'s ``max_samples``."""
        return self.limit("max_train_samples")

    @property
    def eval_limit(self) -> int | None:
        return self.limit("max_eval_samples")

    @property
    def model_name(self) -> str:
        """The model spec the run started from (``model``, or a reranker's ``reranker_model``)."""
        return self.parameters.get("reranker_model") or self.parameters["model"]

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

    def train(self, model: Any, loss: Any, train_dataset: Any, evaluators: Sequence[Any] = (),
              grid_before: pd.DataFrame | None = None) -> Any:
        """``training.train`` with this run's config, checkpoint to resume from and trackers
        (``report_to``); prints the outcome line."""
        from workbench.training import train

        trackers = self.open_trackers(grid_before) if grid_before is not None else None
        result = train(model, loss, train_dataset, self.config, evaluators=list(evaluators),
                       resume_from=self.resume_from, trackers=trackers)
        print(f"{result.status}: {result.global_step} steps, {result.train_seconds:.1f} s, "
              f"{result.rows_per_s:.1f} rows/s")
        self.result = result
        return result

    def evaluate(self, model: Any, evaluators: Sequence[Any], result: Any,
                 grid_before: pd.DataFrame, grid_after: pd.DataFrame,
                 metrics: Mapping[str, float] | None = None) -> pd.DataFrame:
        """The final metrics of every evaluator (plus ``metrics`` measured by the notebook) and
        the run's verdict (``runs.verdict.run_health``); prints both and returns ``grid_after``
        with the layers whose probe collapsed marked ``degenerate``."""
        from IPython.display import display

        from workbench.runs import verdict

        own, final_results = artifacts.final_metrics(model, evaluators)
        self.metrics = {**(metrics or {}), **own}
        if self.trackers is not None:
            self.trackers.log_table("grid_after", grid_after, step=result.global_step)
            self.trackers.log_metrics({f"final/{k}": v for k, v in self.metrics.items()},
                                      step=result.global_step)
            self.trackers.close()
        self.health = verdict.run_health(result, final_results, self.metrics, grid_before,
                                         grid_after)
        print(self.health["status"], self.health["diagnosis"] or "")
        display(pd.Series(self.metrics, name="final", dtype=float).to_frame())
        return verdict.mark_grid(grid_after, self.health)

    def grid_tasks(self, model: Any, dims: Sequence[int] | None = None) -> pd.DataFrame:
        """Every layer x dim x precision cell of ``eval_tasks`` from one encode per text set
        (``recipes.cuts``), kept as the zero-shot cuts before ``train`` and as the trained cuts
        after it (a re-run cell replaces its own); ``finish`` saves both and shows the change."""
        p = self.parameters
        if self._tasks is None:
            self._tasks = cuts.load_eval_tasks(p["eval_tasks"], p["task_max_pairs"],
                                               p["task_max_queries"], p["task_max_corpus"])
            print(self._tasks)
        table = cuts.grid_tasks(model, self._tasks, dims=dims, precisions=p["cut_precisions"],
                                rescore=p["cut_rescore"], encode_precision=p["task_encode_precision"],
                                batch_size=self.config.per_device_eval_batch_size)
        self.cuts["trained" if self.result is not None else "zero_shot"] = table
        return table

    def finish(self, model: Any, loss: Any, result: Any, grid_before: pd.DataFrame,
               grid_after: pd.DataFrame, kind: str = "bi") -> Path:
        """Plots, tables, the saved model, the task cuts, ``metrics.json`` and the card; shows
        plots and tables."""
        from IPython.display import Image, display

        from workbench.reports.cards import write_card

        paths = artifacts.save_plots(self.dir, grid_before, grid_after, result.log, self.metric)
        for path in [*paths.values(), *self.extra_plots]:
            display(Image(filename=str(path)))
        artifacts.save_tables(self.dir, grid_before, grid_after, result.log)
        display(artifacts.tradeoffs(grid_after, self.metric))
        display(artifacts.gain_table(grid_before, grid_after, self.metric))
        model.save(self.dir / "model")
        if self.cuts.keys() == {"zero_shot", "trained"}:
            cuts.save(self.dir, self.cuts["zero_shot"], self.cuts["trained"])
            display(cuts.zero_shot_vs_trained(self.cuts["zero_shot"], self.cuts["trained"]))
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
            model=artifacts.model_summary(model, self.model_name, kind),
            datasets=self.datasets, loss=artifacts.loss_summary(loss))


def start(experiment: str, namespace: Mapping[str, Any], metric: str = DEFAULT_METRIC) -> Run:
    """The run a notebook starts: its parameters (checked: type, range, data, model, see
    ``runs.execute.check_parameters``), run folder, base model and ``TrainConfig``."""
    parameters = execute.check_parameters(experiment, notebook_parameters(namespace),
                                          declared_types(namespace))
    run_dir = execute.prepare_out_dir(parameters["out_dir"], experiment, parameters["preset"])
    run = Run(experiment, parameters, run_dir, execute.base_model(parameters["model"], run_dir),
              TrainConfig.from_params(parameters, output_dir=str(run_dir)), metric)
    print(f"run folder: {run_dir}")
    return run
