"""The run-folder schema: one spelling per key, and every writer's output fits it."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from run_factory import make_run_folder

from workbench.runs import folder, schema
from workbench.training.emissions import EmissionsMeter


def test_emissions_meter_output_fits_the_schema():
    record = EmissionsMeter(enabled=False).start().stop()
    emissions = schema.from_dict(schema.Emissions, record)
    assert emissions.status == "unknown" and emissions.duration_s >= 0


def test_a_second_spelling_is_refused():
    with pytest.raises(ValueError, match="unknown key.*'emissions'"):
        schema.from_dict(schema.Emissions, {"status": "ok", "emissions": 0.1})
    with pytest.raises(ValueError, match="size"):
        schema.from_dict(schema.DatasetSummary, {"name": "x", "split": "t", "size": 3,
                                                 "samples": 3, "stats_rows": 3, "columns": {}})


def test_run_record_round_trip_leaves_out_what_was_not_measured():
    record = schema.RunRecord("matryoshka_2d", "smoke", {"seed": 1}, status="running")
    data = schema.clean(record)
    assert data == {"experiment": "matryoshka_2d", "preset": "smoke", "parameters": {"seed": 1},
                    "status": "running"}
    failed = schema.RunRecord.from_dict({**data, "status": "failed", "failure": {
        "cell_index": 3, "execution_count": 2, "ename": "ValueError", "evalue": "bad"}})
    assert failed.failure.ename == "ValueError" and failed.failure.cell_source_head == []


def test_metrics_json_of_a_run_folder_parses_and_nan_is_null(tmp_path, tiny_bert_dir):
    run = make_run_folder(tmp_path, tiny_bert_dir)
    data = json.loads((run / "metrics.json").read_text())
    record = schema.MetricsRecord.from_dict(data)
    assert record.datasets["eval"].samples > 0 and record.model.kind == "bi"
    assert schema.clean({"x": float("nan")}) == {"x": None}


def test_check_run_folder_names_a_key_outside_the_schema(tmp_path, tiny_bert_dir):
    run = make_run_folder(tmp_path, tiny_bert_dir)
    data = json.loads((run / "metrics.json").read_text())
    data["training"]["secs"] = 3
    (run / "metrics.json").write_text(json.dumps(data))
    assert any("secs" in p for p in folder.check_run_folder(run))


def test_grid_problems_names_missing_columns():
    grid = pd.DataFrame([{"layer": 1, "dim": 8, "status": "ok"}])
    problems = schema.grid_problems(grid, "grid.csv")
    assert "grid.csv lacks column 'latency_ms_per_1k'" in problems
    assert any("no quality column" in p for p in problems)
    assert schema.grid_problems(grid.iloc[:0], "grid.csv") == ["grid.csv has no rows"]


def test_combined_emissions_of_a_resumed_run_fit_the_schema():
    from workbench.training.emissions import combine

    part = {"status": "ok", "energy_kwh": 0.1, "emissions_kg": 0.01, "duration_s": 5.0,
            "hours": 5 / 3600, "cpu_model": "cpu", "gpu_model": None, "gpu_count": None,
            "ram_gb": 1.0, "country": "USA", "on_cloud": "N"}
    assert schema.from_dict(schema.Emissions, combine([part, part])).parts == 2
