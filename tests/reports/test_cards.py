"""Model cards: seed-card shape, huggingface_hub parsing, degenerate runs, cross-encoders."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import yaml
from huggingface_hub import ModelCard
from run_factory import make_run_folder

from workbench.reports.cards import (
    co2_eq_emissions,
    degenerate_diagnosis,
    group_metrics,
    split_metric_key,
    write_card,
)
from workbench.runs.compare import load_run


def _front_matter(text: str) -> dict:
    return yaml.safe_load(text.split("---\n")[1])


@pytest.fixture()
def bi_run(tmp_path, tiny_bert_dir):
    return make_run_folder(tmp_path, tiny_bert_dir)


def test_card_parses_with_huggingface_hub(bi_run):
    path = write_card(bi_run)
    assert path == bi_run / "README.md"
    card = ModelCard.load(path)
    assert card.data.library_name == "sentence-transformers"
    assert card.data.pipeline_tag == "sentence-similarity"
    results = card.data.eval_results
    assert len(results) == 20  # every final metric, sts-dev and sts-test
    spearman = {r.dataset_type: r.metric_value for r in results if r.metric_type == "spearman_cosine"}
    assert spearman == {"sts-dev": pytest.approx(0.79), "sts-test": pytest.approx(0.79)}
    assert {r.task_type for r in results} == {"semantic-similarity"}


def test_card_front_matter_matches_run_files(bi_run):
    meta = _front_matter(write_card(bi_run).read_text())
    assert "loss:Matryoshka2dLoss" in meta["tags"] and "loss:CoSENTLoss" in meta["tags"]
    assert "dataset_size:3" in meta["tags"]
    assert meta["datasets"] == ["sentence-transformers/stsb"]
    assert meta["widget"][0]["source_sentence"] == "A man with a hard hat is dancing."
    assert meta["widget"][0]["sentences"][0] == "A man wearing a hard hat is dancing."
    co2 = meta["co2_eq_emissions"]
    assert co2["emissions"] == pytest.approx(1.2)  # 0.0012 kg -> grams
    assert co2["source"] == "codecarbon" and co2["on_cloud"] is False
    assert co2["hours_used"] == pytest.approx(0.003)


def test_card_body_sections(bi_run):
    text = write_card(bi_run).read_text()
    assert "| **spearman_cosine** | **0.79** |" in text
    assert "truncate_dim=" in text and "workbench export" in text
    assert "| 3 | 0.7 | 0.675 | 0.6625 | 120 |" in text  # layer 3 row: dims 32/16/8, latency
    assert "| bytes/vector | 128 | 64 | 32 |  |" in text
    assert '"matryoshka_dims": [' in text and "@misc{li20242d" in text and "kexuefm-8847" in text
    assert "| 0.5 | 10 | 2.6 | 2.5 | 0.7 |" in text  # training-log row; NaN cells are '-'
    assert "- `learning_rate`: 2e-05" in text and "RAM Size**: 15.60 GB" in text
    assert "WARNING" not in text


def test_degenerate_card_warns_and_keeps_nan_out_of_model_index(tmp_path, tiny_bert_dir):
    run = make_run_folder(tmp_path, tiny_bert_dir, degenerate=True)
    text = write_card(run).read_text()
    meta = _front_matter(text)
    body = text.split("---\n", 2)[2]
    assert body.lstrip().splitlines()[2].startswith("> [!WARNING]")
    assert "embeddings collapsed" in body.split("## Model Details")[0]
    assert "model-index" not in meta and "degenerate-run" in meta["tags"]
    assert "nan" not in yaml.safe_dump(meta).lower()
    assert ModelCard.load(run / "README.md").data.eval_results is None


def test_warning_card_names_collapsed_layers_and_keeps_its_metrics(bi_run):
    info = load_run(bi_run).info
    info["health"] = {"status": "warning", "collapsed_layers": [1], "findings": [
        {"level": "warning", "check": "collapse", "message": "layer(s) 1 of 3 collapsed after "
         "training (layer 1 probe embeddings point one way (mean pairwise cosine 0.9990 > 0.99))"}]}
    (bi_run / "metrics.json").write_text(__import__("json").dumps(info))
    grid = pd.read_csv(bi_run / "grid.csv")
    grid.loc[grid["layer"] == 1, "spearman_cosine"] = 0.7  # the cheapest cell, were it usable
    grid.to_csv(bi_run / "grid.csv", index=False)
    text = write_card(bi_run).read_text()
    meta = _front_matter(text)
    top = text.split("---\n", 2)[2].split("## Model Details")[0]
    assert "Health warning" in top and "> - layer(s) 1 of 3 collapsed" in top
    assert "Layers 2, 3 and the leading slices" in top and "layer(s) 1 collapsed" in top
    assert "Every one of its" not in text and "| 1 (collapsed) |" in text
    assert meta["model-index"] and "health-warning" in meta["tags"]
    assert "quality is layer 2 at" in text.split("**Cutting the model down.**")[1].split("\n")[0]


def test_partly_nan_run_keeps_finite_metrics_only(tmp_path, tiny_bert_dir):
    run = make_run_folder(tmp_path, tiny_bert_dir)
    info = load_run(run).info
    info["metrics"]["sts-test_pearson_dot"] = None
    (run / "metrics.json").write_text(__import__("json").dumps(info))
    meta = _front_matter(write_card(run).read_text())
    values = [m["value"] for r in meta["model-index"][0]["results"] for m in r["metrics"]]
    assert len(values) == 19 and all(math.isfinite(v) for v in values)
    assert "1 of 20 final metrics" in degenerate_diagnosis(load_run(run))


def test_cross_encoder_card_follows_seed_003(tmp_path, tiny_bert_dir):
    run = make_run_folder(tmp_path, tiny_bert_dir, kind="cross", name="ce")
    text = write_card(run).read_text()
    card = ModelCard.load(run / "README.md")
    assert card.data.pipeline_tag == "text-classification"
    assert {r.task_type for r in card.data.eval_results} == {"cross-encoder-correlation"}
    assert "| **spearman** | **0.6** | **0.54** |" in text
    assert "from sentence_transformers import CrossEncoder" in text and "model.rank(" in text
    assert "### Full Model Architecture" not in text and "widget" not in _front_matter(text)
    assert "#### Per-Layer Trade-off" in text
    assert "| layers kept | spearman before | spearman after | accuracy at score 0.5 |" in text
    assert "| 1 | 0.1 | 0.4 | 0.7 | 30 |" in text  # before (random head) and after, per depth
    assert "trust_remote_code" not in text


def test_segment_head_card_loads_with_trust_remote_code(tmp_path, tiny_bert_dir):
    """A reranker whose head compares the two texts runs segment_pooling.py from its folder."""
    run = make_run_folder(tmp_path, tiny_bert_dir, kind="cross", name="ce")
    info = json.loads((run / "metrics.json").read_text())
    info["model"]["pooling"] = "segments"
    (run / "metrics.json").write_text(json.dumps(info))
    text = write_card(run).read_text()
    assert 'model = CrossEncoder("ce/model", trust_remote_code=True)' in text


def test_metric_keys_split_into_task_and_dataset():
    assert split_metric_key("sts-dev_spearman_cosine") == ("sts-dev", "spearman_cosine",
                                                           "semantic-similarity")
    assert split_metric_key("nli-dev_max_ap") == ("nli-dev", "max_ap", "binary-classification")
    assert split_metric_key("stsb-test_spearman", "cross")[2] == "cross-encoder-correlation"
    groups = group_metrics({"a_pearson_cosine": 0.5, "b_cosine_f1": 0.4, "a_spearman_cosine": 0.6})
    assert [(g.task, g.dataset, g.primary) for g in groups] == [
        ("semantic-similarity", "a", "spearman_cosine"), ("binary-classification", "b", None)]
    with pytest.raises(ValueError, match="names no known evaluator metric"):
        split_metric_key("sts-dev_mystery")


def test_emissions_units_and_unmeasured_runs():
    co2 = co2_eq_emissions({"status": "ok", "energy_kwh": 0.5, "emissions_kg": 0.2,
                            "duration_s": 7200, "gpu_model": "NVIDIA H100", "gpu_count": 2,
                            "cpu_model": "x", "ram_gb": 64.0, "on_cloud": "Y"})
    assert co2["emissions"] == pytest.approx(200.0) and co2["hours_used"] == 2.0
    assert co2["hardware_used"] == "2 x NVIDIA H100" and co2["on_cloud"] is True
    assert co2_eq_emissions({"status": "unknown", "error": "disabled"}) is None
    assert co2_eq_emissions(None) is None
