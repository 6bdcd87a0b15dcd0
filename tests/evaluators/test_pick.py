"""``workbench pick`` picks what a by-hand reading of the csv picks."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.cli.main import main
from workbench.evaluators.pick import pick, read_cuts

# task, layer, dim, precision, rescore, score, retained, latency, search ms, bytes, status
ROWS = [
    ("scifact", 6, 384, "fp32", 0, 0.640, 1.000, 50.0, 0.90, 1536, "ok"),
    ("scifact", 6, 384, "int8", 0, 0.630, 0.984, 50.0, 0.40, 384, "ok"),
    ("scifact", 6, 384, "binary", 0, 0.560, 0.875, 50.0, 0.10, 48, "ok"),
    ("scifact", 6, 384, "binary", 4, 0.620, 0.969, 50.0, 0.20, 48, "ok"),
    ("scifact", 4, 384, "fp32", 0, 0.615, 0.961, 34.0, 0.90, 1536, "ok"),
    ("scifact", 4, 256, "int8", 0, 0.600, 0.938, 34.0, 0.30, 256, "ok"),
    ("scifact", 3, 384, "fp32", 0, 0.700, 1.094, 26.0, 0.90, 1536, "degenerate"),
    ("scifact", 2, 384, "fp32", 0, 0.500, 0.781, 18.0, 0.90, 1536, "ok"),
    ("stsb", 2, 128, "fp32", 0, 0.800, 0.990, 10.0, None, 512, "ok"),
]
COLUMNS = ["task", "layer", "dim", "precision", "rescore", "score", "quality_retained",
           "latency_ms_per_1k", "search_ms_per_query", "bytes_per_vector", "status"]


@pytest.fixture()
def table(tmp_path):
    path = tmp_path / "cuts.csv"
    pd.DataFrame(ROWS, columns=COLUMNS).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("minimize", "expected"), [
    # >= 95%: rows 0, 1, 3, 4 (row 6 is degenerate, row 5 keeps 93.8%, stsb is another task)
    ("latency", (4, 384, "fp32", 0)),   # 34 ms beats 50 ms
    ("bytes", (6, 384, "binary", 4)),   # 48 bytes; binary without rescoring keeps only 87.5%
    ("search", (6, 384, "binary", 4)),  # 0.20 ms per query
])
def test_pick_matches_the_hand_reading(table, minimize, expected):
    result = pick(read_cuts(table), "scifact", 0.95, minimize)
    cell = result.cell
    assert (cell.layer, cell.dim, cell.precision, cell.rescore) == expected


def test_ties_on_cost_go_to_the_better_score(table):
    cell = pick(read_cuts(table), "scifact", 0.98, "latency").cell  # rows 0 and 1, both 50 ms
    assert (cell.precision, cell.score) == ("fp32", 0.640)


def test_front_and_command_line(table, capsys):
    front = pick(read_cuts(table), "scifact", 0.95, "bytes").front
    assert list(zip(front.bytes_per_vector, front.score, strict=True)) == [(48, 0.620), (384, 0.630),
                                                                          (1536, 0.640)]
    assert main(["pick", str(table.parent), "--task", "scifact", "--min-retained", "0.95",
                 "--minimize", "search"]) == 0
    out = capsys.readouterr().out
    assert "layer 6, dim 384, binary rescored x4" in out and "Pareto front" in out
    assert main(["pick", str(table), "--task", "scifact", "--min-retained", "1.5"]) == 1
    with pytest.raises(ValueError, match="task 'nfcorpus' is not in the table"):
        pick(read_cuts(table), "nfcorpus")


def test_wide_grid_csv_reads_as_one_task(tmp_path):
    grid = pd.DataFrame({"layer": [1, 1, 2, 2], "dim": [16, 32, 16, 32],
                         "spearman_cosine": [0.5, 0.6, 0.7, 0.8],
                         "latency_ms_per_1k": [5.0, 5.0, 9.0, 9.0], "bytes_per_vector": [64, 128, 64, 128]})
    grid.to_csv(tmp_path / "grid.csv", index=False)
    cell = pick(read_cuts(tmp_path), "stsb", 0.85, "bytes").cell
    assert (cell.layer, cell.dim) == (2, 16)  # 0.7 / 0.8 = 87.5%, the only 64-byte cell kept


def test_grid_tasks_then_pick_on_the_command_line(tiny_bert_dir, shared_data, tmp_path, capsys):
    out = tmp_path / "cuts"
    assert main(["grid", str(tiny_bert_dir), "--task", "scifact", "stsb", "--max-queries", "4",
                 "--max-corpus", "30", "--max-samples", "12", "--precisions", "fp32", "binary",
                 "--rescore", "2", "--layers", "1", "3", "--dims", "32", "16", "--out", str(out)]) == 0
    table = pd.read_csv(out / "cuts.csv")
    assert set(table.task) == {"scifact", "stsb"}
    assert len(table[table.task == "scifact"]) == 2 * 2 * 3  # fp32, binary, binary x2
    assert table.latency_ms_per_1k.gt(0).all()
    assert table[table.task == "scifact"].search_ms_per_query.gt(0).all()
    assert main(["pick", str(out), "--task", "scifact", "--min-retained", "0"]) == 0
    assert "cheapest cell of 'scifact'" in capsys.readouterr().out
