"""cuts.json, the card's cuts table, ``workbench export --cut`` and the cuts panel of the widget."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from workbench.cli.main import main
from workbench.evaluators.task_grid import finish
from workbench.reports.cuts import cuts_markdown, read_cut, write_cuts_json
from workbench.reports.cuts_widget import CutsPanel, pareto_3d


def _frame() -> pd.DataFrame:
    rows = []
    for layer, latency in ((3, 30.0), (1, 10.0)):
        for dim in (32, 16):
            for precision, rescore, factor in (("fp32", 0, 1.0), ("binary", 0, 0.8), ("binary", 2, 0.95)):
                base = 0.5 + 0.1 * layer + dim / 320
                for task, kind, metric, search in (("ret", "retrieval", "ndcg@10", 0.2),
                                                   ("sts", "sts", "spearman_cosine", None)):
                    if kind == "sts" and rescore:
                        continue
                    rows.append({"task": task, "kind": kind, "suite": None, "layer": layer, "dim": dim,
                                 "precision": precision, "rescore": rescore, "metric": metric,
                                 "score": base * factor, "latency_ms_per_1k": latency,
                                 "search_ms_per_query": search,
                                 "bytes_per_vector": dim * 4 if precision == "fp32" else dim // 8,
                                 "status": "ok"})
    return finish(pd.DataFrame(rows))


def test_cuts_json_and_export_by_cut(tiny_bert_dir, tmp_path, capsys):
    frame = _frame()
    model = tmp_path / "model"
    from workbench.models.bi_encoder import BiEncoder

    BiEncoder.from_pretrained(tiny_bert_dir).save(model)
    doc = json.loads(write_cuts_json(frame, model).read_text())
    assert len(doc["cells"]) == 2 * 2 * 3 and doc["tasks"]["ret"]["metric"] == "ndcg@10"
    first = doc["cells"][0]
    assert (first["layer"], first["dim"], first["precision"], first["rescore"]) == (3, 32, "fp32", 0)
    assert first["quality_retained"] == {"ret": 1.0, "sts": 1.0}
    cell = next(c for c in doc["cells"] if c["precision"] == "binary" and c["rescore"] == 2
                and c["layer"] == 1 and c["dim"] == 16)
    assert cell["bytes_per_vector"] == 2 and "sts" not in cell["quality_retained"]
    assert main(["export", str(model), "--cut", str(cell["id"]), "--out", str(tmp_path / "cut"),
                 "--sample", "4", "--repeats", "1"]) == 0
    assert f"cut {cell['id']}: layer 1, dim 16, binary" in capsys.readouterr().out
    assert BiEncoder.from_pretrained(tmp_path / "cut").num_layers == 1
    with pytest.raises(ValueError, match="--cut 99"):
        read_cut(model, 99)


def test_card_table_lists_every_cell():
    table = cuts_markdown(_frame())
    lines = table.splitlines()
    assert lines[0].startswith("| id | layer | dim | precision | ret | sts |")
    assert len(lines) == 2 + 12
    assert "binary +rescore x2" in table


def test_panel_selectors_and_pareto_view():
    panel = CutsPanel(_frame())
    assert panel.task.options == ("ret", "sts")
    panel.precisions.value = ("binary",)
    assert set(panel.points()["precision"]) == {"binary"} and set(panel.points()["rescore"]) == {0}
    panel.min_retained.value = 0.75
    picks = panel.picks()
    assert (picks["bytes"].dim, picks["bytes"].layer) == (16, 3)  # 2 bytes, 0.8 * (0.85 / 1.0)
    cells = pd.DataFrame({"latency_ms_per_1k": [10.0, 10.0, 5.0], "bytes_per_vector": [2, 4, 8],
                          "score": [0.5, 0.4, 0.3]})
    assert list(pareto_3d(cells).index) == [0, 2]  # cell 1 costs more bytes for less score
    assert panel.figure().axes[0].get_xlabel().startswith("encode latency")
