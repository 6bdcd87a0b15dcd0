"""``report_to``: TensorBoard for real (event files read back), Trackio, MLflow and W&B through
fakes of their module API (not installed here), and the errors for unknown or missing ones."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types

import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from workbench.evaluators import EmbeddingSimilarityEvaluator
from workbench.losses import LOSSES
from workbench.training import TrainConfig, train
from workbench.training.config import ConfigError
from workbench.training.trackers import open_trackers, parse_report_to

GRID = pd.DataFrame({"layer": [1, 3], "dim": [32, 8], "spearman_cosine": [0.5, 0.25],
                     "latency_ms_per_1k": [1.0, 3.0]})


def _train(encoder, data, out, report_to):
    config = TrainConfig(output_dir=str(out), max_steps=4, per_device_train_batch_size=8,
                         logging_steps=1, eval_strategy="steps", eval_steps=2, save_steps=10,
                         disable_tqdm=True, track_emissions=False, report_to=report_to)
    evaluator = EmbeddingSimilarityEvaluator(data["sentence1"][:16], data["sentence2"][:16],
                                             data["score"][:16], name="sts-dev")
    return train(encoder, LOSSES["CoSENTLoss"](encoder), data, config, evaluators=[evaluator])


def _events(out, kind):
    lines = (out / "train_log.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["type"] == kind]


def test_tensorboard_gets_hyperparameters_losses_evaluations_and_grids(
        tiny_encoder, stsb_small, tmp_path):
    _train(tiny_encoder, stsb_small, tmp_path, "tensorboard")
    trackers = open_trackers("tensorboard", tmp_path)  # the notebook's grid logging
    trackers.log_table("grid_after", GRID, step=4)
    trackers.close()
    board = EventAccumulator(str(tmp_path / "tensorboard"))
    board.Reload()
    losses = [(e.step, e.value) for e in board.Scalars("train/loss")]
    logged = [(e["step"], e["loss"]) for e in _events(tmp_path, "train")]
    assert [s for s, _ in losses] == [s for s, _ in logged] == [1, 2, 3, 4]
    assert [v for _, v in losses] == pytest.approx([v for _, v in logged], rel=1e-6)
    spearman = [(e["step"], e["metrics"]["sts-dev_spearman_cosine"])
                for e in _events(tmp_path, "eval")]
    got = [(e.step, e.value) for e in board.Scalars("eval/sts-dev_spearman_cosine")]
    assert [s for s, _ in got] == [s for s, _ in spearman] == [2, 4]
    assert [v for _, v in got] == pytest.approx([v for _, v in spearman], rel=1e-6)
    assert "health/probe_mean_cosine" in board.Tags()["scalars"]
    assert [e.value for e in board.Scalars("grid_after/spearman_cosine/layer3_dim8")] == [0.25]
    assert {"hyperparameters/text_summary", "grid_after/text_summary"} <= set(
        board.Tags()["tensors"])


class _Recorder:
    """A fake tracker module: records every call as (name, args, kwargs)."""

    def __init__(self, name: str) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []
        self.module = types.ModuleType(name)
        self.module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        for call in self.names():
            setattr(self.module, call, self._record(call))
        self.module.Table = lambda dataframe: ("Table", len(dataframe))

    def names(self) -> tuple[str, ...]:
        return {"trackio": ("init", "log", "finish"),
                "mlflow": ("set_experiment", "start_run", "log_params", "log_metrics",
                           "log_table", "end_run")}.get(self.module.__name__, ("init",))

    def _record(self, call):
        def method(*args, **kwargs):
            self.calls.append((call, args, kwargs))
            return self.run if call == "init" and self.module.__name__ == "wandb" else None
        return method

    @property
    def run(self):  # wandb.init returns a run with log / config.update / finish
        run = types.SimpleNamespace(log=self._record("log"), finish=self._record("finish"))
        run.config = types.SimpleNamespace(update=self._record("config.update"))
        return run

    def logged(self, call: str = "log") -> dict[int, dict]:
        by_step: dict[int, dict] = {}
        for name, args, kwargs in self.calls:
            if name == call:
                by_step.setdefault(kwargs["step"], {}).update(args[0])
        return by_step


@pytest.fixture()
def fakes(monkeypatch):
    made = {name: _Recorder(name) for name in ("trackio", "mlflow", "wandb")}
    for name, fake in made.items():
        monkeypatch.setitem(sys.modules, name, fake.module)
    return made


def test_trackio_mlflow_and_wandb_get_the_same_numbers(tiny_encoder, stsb_small, tmp_path,
                                                       fakes):
    _train(tiny_encoder, stsb_small, tmp_path, ["trackio", "mlflow", "wandb"])
    losses = {e["step"]: e["loss"] for e in _events(tmp_path, "train")}
    evals = {e["step"]: e["metrics"] for e in _events(tmp_path, "eval")}
    for name, call in (("trackio", "log"), ("mlflow", "log_metrics"), ("wandb", "log")):
        logged = fakes[name].logged(call)
        assert {s: m["train/loss"] for s, m in logged.items() if "train/loss" in m} == \
            pytest.approx(losses), name
        for step, metrics in evals.items():
            assert logged[step]["eval/sts-dev_spearman_cosine"] == pytest.approx(
                metrics["sts-dev_spearman_cosine"]), name
        assert fakes[name].calls[-1][0] in ("finish", "end_run"), name
    init = {n: next(c for c in f.calls if c[0] in ("init", "start_run")) for n, f in fakes.items()}
    assert init["trackio"][2]["config"]["learning_rate"] == 5e-5
    assert init["wandb"][2]["config"]["max_steps"] == 4 and init["wandb"][2]["name"] == tmp_path.name
    assert init["mlflow"][2]["run_name"] == tmp_path.name
    params = next(c for c in fakes["mlflow"].calls if c[0] == "log_params")[1][0]
    assert params["per_device_train_batch_size"] == "8"
    trackers = open_trackers("trackio,wandb", tmp_path)
    trackers.log_table("grid_before", GRID, step=0)
    assert fakes["wandb"].logged()[0] == {"grid_before": ("Table", 2)}
    assert fakes["trackio"].logged()[0] == {"grid_before": ("Table", 2)}


def test_report_to_values_and_errors(monkeypatch):
    assert parse_report_to("none") == [] and parse_report_to(None) == []
    assert parse_report_to("[tensorboard, 'tensorboard']") == ["tensorboard"]
    assert "tensorboard" in parse_report_to("all")
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    with pytest.raises(ConfigError, match="report_to wandb needs the package 'wandb'.*pip install"):
        TrainConfig(report_to=["tensorboard", "wandb"])
    with pytest.raises(ConfigError, match="unknown report_to comet"):
        TrainConfig(report_to="comet")
    assert "wandb" not in parse_report_to("all")
