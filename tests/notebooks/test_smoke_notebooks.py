"""Every experiment notebook executed by papermill with the smoke preset (tiny random model, a few
dozen rows), its run folder checked against the contract; a failing run says where it failed."""

from __future__ import annotations

import json

import pytest

from workbench.cli import main as cli
from workbench.cli import runs as cli_runs
from workbench.runs import execute as runs
from workbench.runs import folder as run_folder

EXPERIMENTS = ("adaptive_layer", "matryoshka_2d", "bce_reranker", "rerank_pipeline")


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("runs")
    return {e: runs.execute(e, "smoke", out=root / e, progress=False) for e in EXPERIMENTS}


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_smoke_run_folder_holds_the_contract(smoke_runs, experiment):
    run_dir = smoke_runs[experiment]
    assert run_folder.check_run_folder(run_dir) == []
    metrics = run_folder.read_metrics(run_dir)
    assert (metrics["experiment"], metrics["preset"]) == (experiment, "smoke")
    assert metrics["parameters"]["model"] == "tiny-bert"
    assert metrics["training"]["steps"] == 4
    assert len(metrics["grid_after"]) == len(metrics["grid_before"]) > 0
    record = json.loads((run_dir / runs.RUN_FILE).read_text())
    assert record["status"] == "ok"
    health = metrics["health"]  # a healthy smoke run is not flagged (issue 12.1)
    assert health["status"] == "ok" and health["findings"] == [], health["diagnosis"]
    assert health["final"] and health["collapsed_layers"] == []
    assert cli_runs.read_verdict(run_dir) == ("ok", "verdict: ok")
    assert (run_dir / "README.md").read_text().startswith("---")  # the card


@pytest.mark.slow
def test_metric_keys_follow_the_seed_cards(smoke_runs):
    keys = {e: set(run_folder.read_metrics(d)["metrics"]) for e, d in smoke_runs.items()}
    assert {"sts-dev_spearman_cosine", "sts-test_spearman_cosine"} <= keys["matryoshka_2d"]
    assert {"sts-test_spearman_cosine", "snli-validation_max_ap"} <= keys["adaptive_layer"]
    assert {"stsb-validation_spearman", "stsb-test_spearman"} <= keys["bce_reranker"]
    assert {"scifact-test-retrieval_ndcg@10", "scifact-test-rerank3_ndcg@10"} <= keys["rerank_pipeline"]


@pytest.mark.slow
def test_compare_prints_and_saves_a_table(smoke_runs, tmp_path, capsys):
    dirs = [str(smoke_runs["matryoshka_2d"]), str(smoke_runs["adaptive_layer"])]
    assert cli.main(["compare", *dirs, "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "matryoshka_2d" in out and "adaptive_layer" in out
    assert (tmp_path / "cmp" / "metrics.csv").stat().st_size > 0


@pytest.mark.slow
def test_failing_notebook_keeps_a_run_folder_saying_where(tmp_path, capsys, monkeypatch):
    out = tmp_path / "broken"
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path / "no-data"))  # the kernel finds no data
    code = cli.main(["run", "matryoshka_2d", "--preset", "smoke", "--quiet", "--out", str(out)])
    assert code == 1
    assert "failed in cell" in capsys.readouterr().err
    record = json.loads((out / runs.RUN_FILE).read_text())
    failure = record["failure"]
    assert record["status"] == "failed" and isinstance(failure["cell_index"], int)
    assert failure["ename"] == "DataNotFoundError"
    text = (out / runs.FAILURE_FILE).read_text()
    assert f"cell {failure['cell_index']}" in text and "no-data" in text
    assert (out / "notebook.ipynb").exists()  # the partial executed notebook is kept
    assert run_folder.check_run_folder(out)  # and it does not pass as a finished run


@pytest.mark.slow
def test_rerank_pipeline_writes_every_pipeline(smoke_runs):
    import pandas as pd

    run_dir = smoke_runs["rerank_pipeline"]
    frame = pd.read_csv(run_dir / "pipelines.csv")
    assert len(frame) == 2 * 3  # 2 cells x depths 0, 1, 3
    assert (frame["latency_ms_per_query"] > frame["encode_ms"]).all()
    assert (run_dir / "plots" / "pipelines.png").stat().st_size > 0
    assert run_folder.read_metrics(run_dir)["loss"]["name"] == "AdaptiveLayerCrossEncoderLoss"


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ("adaptive_layer", "matryoshka_2d"))
def test_bi_encoder_runs_grid_their_evaluation_tasks(smoke_runs, experiment):
    import pandas as pd

    run_dir = smoke_runs[experiment]
    before, after = pd.read_csv(run_dir / "cuts_before.csv"), pd.read_csv(run_dir / "cuts.csv")
    assert {"stsb", "sickr", "sts12", "sts13", "sts-suite", "scifact"} == set(after.task)
    assert len(before) == len(after) and set(after.precision) == {"fp32", "int8", "binary"}
    assert (run_dir / "model" / "cuts.json").is_file()
    assert "#### Cuts: every task" in (run_dir / "README.md").read_text()
