"""The trade-off explorer, driven as a user would: set sliders, click cells, press export."""

from __future__ import annotations

import pytest
import torch
from run_factory import make_run_folder

from workbench.models.bi_encoder import BiEncoder
from workbench.reports.widgets import TradeoffExplorer


@pytest.fixture()
def run_dir(tmp_path, tiny_bert_dir):
    return make_run_folder(tmp_path, tiny_bert_dir)


def test_sliders_drive_the_metrics_view(run_dir):
    ex = TradeoffExplorer(run_dir)
    assert (ex.layer.value, ex.dim.value) == (3, 32)  # starts on the full model
    assert "100.0%" in ex.metrics_html.value
    ex.layer.value = 1
    ex.dim.value = 8
    summary = ex.summary(1, 8)
    assert summary["spearman_cosine"] == pytest.approx(0.55 + 0.1 / 3 + 0.05 * 8 / 32)
    assert summary["retained"] == pytest.approx(summary["spearman_cosine"] / 0.7)
    assert summary["latency_ms_per_1k"] == 40.0 and summary["bytes_per_vector"] == 32
    view = ex.metrics_html.value
    assert "layer 1 of 3, 8 of 32 dims" in view and f"{summary['retained']:.1%}" in view
    assert "40.0 ms / 1k" in view and "<td>32</td>" in view


def test_heatmap_click_selects_cell_and_marks_it(run_dir):
    ex = TradeoffExplorer(run_dir)
    ex.cells[(2, 16)].click()
    assert (ex.layer.value, ex.dim.value) == (2, 16)
    assert ex.cells[(2, 16)].layout.border.startswith("3px")
    assert not ex.cells[(3, 32)].layout.border
    assert ex.cells[(2, 16)].description == f"{ex.summary(2, 16)['spearman_cosine']:.3f}"
    colours = {b.style.button_color for b in ex.cells.values()}
    assert len(colours) > 3  # coloured by quality, not uniform


def test_pair_scores_match_the_encoder_at_that_cell(run_dir):
    ex = TradeoffExplorer(run_dir)
    ex.select(2, 8)
    a, b, gold, score = ex.pair_scores(2, 8)[0]
    assert gold == 1.0 and a == "A man with a hard hat is dancing."
    enc = BiEncoder.from_pretrained(run_dir / "model")
    e = torch.nn.functional.normalize(enc.encode([a, b], layer=2, dim=8), dim=-1)
    assert score == pytest.approx(float(e[0] @ e[1]), abs=1e-5)  # the widget shows cosine
    assert f"{score:.3f}" in ex.pairs_html.value
    full = ex.pair_scores(3, 32)[0][3]
    assert full != pytest.approx(score, abs=1e-4)  # a different cell gives a different score


def test_compare_two_runs_side_by_side(tmp_path, tiny_bert_dir):
    first = make_run_folder(tmp_path, tiny_bert_dir, name="run-a")
    second = make_run_folder(tmp_path, tiny_bert_dir, name="run-b", shift=-0.1)
    ex = TradeoffExplorer(first, compare_dir=second)
    ex.select(3, 32)
    view = ex.metrics_html.value
    assert "run-a" in view and "run-b" in view
    assert "0.7000" in view and "0.6000" in view


def test_export_button_writes_a_standalone_cut_model(run_dir):
    ex = TradeoffExplorer(run_dir)
    ex.select(2, 16)
    ex.export_button.click()
    out = run_dir / "exports" / "L2-d16"
    assert "exported to" in ex.status.value, ex.status.value
    cut = BiEncoder.from_pretrained(out)
    assert cut.num_layers == 2
    full = BiEncoder.from_pretrained(run_dir / "model")
    texts = ["A man is playing a guitar.", "A dog runs."]
    torch.testing.assert_close(cut.encode(texts), full.encode(texts, layer=2, dim=16),
                               atol=1e-5, rtol=1e-4)


def test_export_failure_is_shown_not_raised(run_dir):
    def broken(*_args):
        raise RuntimeError("disk full")

    ex = TradeoffExplorer(run_dir, exporter=broken)
    assert ex.export() is None
    assert "export failed: disk full" in ex.status.value


def test_run_without_grid_is_refused(run_dir):
    (run_dir / "grid.csv").write_text("")
    info = (run_dir / "metrics.json").read_text().replace('"grid_after": [', '"old": [')
    (run_dir / "metrics.json").write_text(info)
    with pytest.raises(ValueError, match="nothing to explore"):
        TradeoffExplorer(run_dir)


def test_reranker_run_explores_depths_before_and_after(tmp_path):
    from sentence_transformers import CrossEncoder as STCrossEncoder

    from workbench.models.cross_encoder import CrossEncoder
    from workbench.models.specs import tiny_cross_encoder

    run = make_run_folder(tmp_path, tiny_cross_encoder(tmp_path / "tiny-ce"), kind="cross", name="ce")
    ex = TradeoffExplorer(run)
    assert ex.dims == [32] and ex.layers == [1, 2, 3]
    summary = ex.summary(1, 32)
    assert summary["spearman"] == pytest.approx(0.4)
    assert summary["spearman before"] == pytest.approx(0.1)
    pairs = [(a, b) for a, b, _ in ex.pairs]
    expected = CrossEncoder.from_pretrained(run / "model").predict(pairs, layer=1)
    assert [s for *_, s in ex.pair_scores(1, 32)] == pytest.approx(expected.tolist(), abs=1e-6)
    ex.select(2, 32)
    assert "reranker score" in ex.pairs_html.value
    out = ex.export()
    assert out is not None and out.name == "L2-d32"
    st = STCrossEncoder(str(out), device="cpu")
    assert st.model.config.num_hidden_layers == 2
