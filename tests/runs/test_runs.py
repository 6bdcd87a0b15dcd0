"""Run folders, presets, parameters and committed notebooks (fast: no notebook executes here)."""

from __future__ import annotations

import ast
import json
import math

import nbformat
import pandas as pd
import pytest

from workbench.cli import main as cli
from workbench.cli.runs import split_values, sweep_points
from workbench.runs import execute as runs
from workbench.runs import folder as run_folder

EXPERIMENTS = ("adaptive_layer", "matryoshka_2d", "bce_reranker")


def test_every_experiment_has_its_presets():
    assert set(EXPERIMENTS) <= set(runs.experiments())
    for experiment in EXPERIMENTS:
        assert {"smoke", "cpu"} <= set(runs.presets(experiment))
    assert {"seed-000", "seed-001"} <= set(runs.presets("adaptive_layer"))
    assert "seed-002" in runs.presets("matryoshka_2d")
    assert "seed-003" in runs.presets("bce_reranker")


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_preset_names_only_declared_parameters(experiment):
    declared = runs.declared_parameters(experiment)
    for preset in runs.presets(experiment):
        values = runs.resolve_parameters(experiment, preset)
        assert set(values) <= set(declared), preset
        for name, value in values.items():  # preset values keep the declared type
            kind = declared[name]["inferred_type_name"]
            assert kind not in ("int", "float", "str", "bool", "list") or isinstance(
                value, {"int": int, "float": float, "str": str, "bool": bool, "list": list}[kind]
            ), f"{experiment}.{preset}: {name}={value!r} is not {kind}"


def test_seed_presets_match_the_cards():
    seed = runs.load_preset("adaptive_layer", "seed-000")
    assert (seed["per_device_train_batch_size"], seed["learning_rate"], seed["warmup_ratio"],
            seed["kl_div_weight"], seed["kl_temperature"], seed["n_layers_per_step"]) == (
        32, 5e-6, 0.33, 1.2, 1.2, -1)
    seed = runs.load_preset("matryoshka_2d", "seed-002")
    assert seed["matryoshka_dims"] == [768, 512, 256, 128, 64] and seed["num_train_epochs"] == 4


def test_parse_value_types():
    assert runs.parse_value("5e-5", "float") == 5e-5
    assert runs.parse_value("3", "float") == 3.0 and isinstance(runs.parse_value("3", "float"), float)
    assert runs.parse_value("[64, 32]", "list") == [64, 32]
    assert runs.parse_value("true", "bool") is True
    assert runs.parse_value("123", "str") == "123"
    assert runs.parse_value("minilm-l6", "None") == "minilm-l6"
    assert split_values("1,[2,3], 4") == ["1", "[2,3]", "4"]


def test_sweep_points_are_the_product():
    points = sweep_points("matryoshka_2d", ["learning_rate=1e-5,2e-5", "variant=2d,starbucks"])
    assert len(points) == 4
    assert {"learning_rate": 2e-5, "variant": "starbucks"} in points


def test_unknown_parameter_is_refused_with_the_valid_names(capsys):
    code = cli.main(["run", "matryoshka_2d", "--preset", "smoke", "-p", "learnig_rate", "1e-4"])
    err = capsys.readouterr().err
    assert code == 2
    assert "learnig_rate" in err and "learning_rate" in err and "matryoshka_dims" in err
    with pytest.raises(runs.UnknownParameterError, match="nope"):
        runs.resolve_parameters("bce_reranker", "smoke", {"nope": 1})


def test_new_run_dir_is_named_and_unique(tmp_path):
    first = runs.new_run_dir("matryoshka_2d", "smoke", tmp_path)
    second = runs.new_run_dir("matryoshka_2d", "smoke", tmp_path)
    assert first.name.endswith("-matryoshka_2d-smoke") and first != second
    assert first.is_dir() and second.is_dir()


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_committed_notebook_is_clean(experiment):
    nb = nbformat.read(runs.notebook_path(experiment), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "outputs committed"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for cell in code:
        for node in ast.walk(ast.parse(cell.source)):
            assert not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
                                  | ast.Lambda), f"definition in a notebook cell: {cell.source[:60]}"
    assignments = [n for n in ast.parse(tagged[0].source).body if isinstance(n, ast.AnnAssign)]
    assert len(assignments) == len(ast.parse(tagged[0].source).body)  # typed literals only
    declared = runs.declared_parameters(experiment)  # papermill parsed every line
    assert [a.target.id for a in assignments] == list(declared)
    assert set(runs.RESERVED) <= set(declared)


def _good_folder(path, nan: bool = False):
    grid = pd.DataFrame({"layer": [1, 2], "dim": [8, 8], "spearman_cosine": [0.4, 0.5],
                         "latency_ms_per_1k": [1.0, 2.0], "bytes_per_vector": [32, 32],
                         "status": ["ok", "ok"]})
    for name in ("notebook.ipynb", "grid.csv", "grid_before.csv", "train_log.csv"):
        grid.to_csv(path / name, index=False)
    (path / "model").mkdir()
    (path / "model" / "model.safetensors").write_bytes(b"x")
    (path / "plots").mkdir()
    for name in run_folder.PLOTS:
        (path / "plots" / f"{name}.png").write_bytes(run_folder.PNG_MAGIC + b"data")
    run_folder.write_metrics(
        path, experiment="e", preset="p", parameters={"a": 1},
        metrics={"sts-test_spearman_cosine": math.nan if nan else 0.5}, grid_before=grid,
        grid_after=grid, health={"status": "ok", "diagnosis": None}, training={}, emissions=None,
        model={"base_model": "m"}, datasets={}, loss={})


def test_check_run_folder_accepts_a_complete_folder(tmp_path):
    _good_folder(tmp_path)
    assert run_folder.check_run_folder(tmp_path) == []
    assert run_folder.read_metrics(tmp_path)["grid_after"].shape == (2, 6)


def test_check_run_folder_names_every_problem(tmp_path):
    _good_folder(tmp_path, nan=True)
    (tmp_path / "plots" / "pareto.png").write_bytes(b"")
    (tmp_path / "grid.csv").unlink()
    problems = run_folder.check_run_folder(tmp_path)
    assert "missing grid.csv" in problems
    assert any("pareto.png" in p for p in problems)
    assert any("sts-test_spearman_cosine" in p and "not finite" in p for p in problems)
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"][
        "sts-test_spearman_cosine"] is None  # NaN is written as null, never as NaN
