"""The layer x dim grid: one encode pass, the same numbers as per-cell evaluation, measured cost."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from workbench.evaluators import EmbeddingSimilarityEvaluator, cut_layers, default_dims, grid
from workbench.evaluators.base import pair_columns


def test_grid_is_one_encode_pass_and_equals_per_cell_evaluation(tiny_encoder, stsb_small, monkeypatch):
    calls = []
    original = tiny_encoder.encode_layers
    monkeypatch.setattr(tiny_encoder, "encode_layers",
                        lambda *a, **k: calls.append(k.get("layers", a[1:2])) or original(*a, **k))
    frame = grid(tiny_encoder, stsb_small, dims=[8, 32, 16], measure_latency=False)
    assert len(calls) == 1
    assert list(zip(frame.layer, frame.dim, strict=True)) == [
        (k, d) for k in (1, 2, 3) for d in (32, 16, 8)]
    monkeypatch.undo()
    ev = EmbeddingSimilarityEvaluator.from_dataset(stsb_small)
    for row in frame[frame.layer.map({1: 32, 2: 16, 3: 8}) == frame.dim].itertuples():
        cell = ev(tiny_encoder, layer=row.layer, dim=row.dim).metrics
        for key in ("spearman_cosine", "pearson_cosine", "spearman_euclidean", "pearson_max"):
            assert getattr(row, key) == pytest.approx(cell[key], abs=1e-5), (row.layer, row.dim, key)
    assert frame.columns[:4].tolist() == ["layer", "dim", "spearman_cosine", "pearson_cosine"]
    assert (frame.bytes_per_vector == frame.dim * 4).all()
    assert frame.latency_ms_per_1k.isna().all() and (frame.status == "ok").all()
    full = frame[(frame.layer == 3) & (frame.dim == 32)].iloc[0]
    assert full.quality_retained == 1.0


def test_latency_is_measured_once_per_depth(tiny_encoder, stsb_small):
    frame = grid(tiny_encoder, stsb_small, dims=[32, 16], latency_sample=16)
    per_depth = frame.groupby("layer").latency_ms_per_1k.nunique()
    assert (per_depth == 1).all() and (frame.latency_ms_per_1k > 0).all()
    assert frame.attrs["latency_sample"] == 16 and frame.attrs["latency_seconds"] > 0


def test_cut_layers_is_a_real_cut_and_restores(tiny_encoder, stsb_small):
    texts = list(stsb_small.sentence1[:8])
    layer2 = tiny_encoder.encode_layers(texts, [2])[2]
    blocks = tiny_encoder.transformer.encoder.layer
    with cut_layers(tiny_encoder, 2):
        assert len(tiny_encoder.transformer.encoder.layer) == 2 and tiny_encoder.num_layers == 2
        cut = tiny_encoder.encode(texts)
    assert cut == pytest.approx(layer2, abs=1e-5)
    assert tiny_encoder.transformer.encoder.layer is blocks and tiny_encoder.num_layers == 3
    with pytest.raises(RuntimeError, match="boom"), cut_layers(tiny_encoder, 1):
        raise RuntimeError("boom")
    assert tiny_encoder.transformer.encoder.layer is blocks and tiny_encoder.num_layers == 3


def test_cut_layers_fails_clearly_on_an_unknown_architecture(tiny_encoder):
    del tiny_encoder.transformer.encoder.layer
    with pytest.raises(NotImplementedError, match="measure_latency=False"), \
            cut_layers(tiny_encoder, 1):
        pass


def test_default_dims_halve_from_hidden_size():
    assert default_dims(384) == [384, 256, 128, 64, 32]
    assert default_dims(768, matryoshka_dims=[768, 512, 100]) == [768, 512, 256, 128, 100, 64, 32]
    assert default_dims(32) == [32]


def test_pair_columns_reads_frames_datasets_and_tuples(stsb_small):
    from datasets import Dataset

    as_tuple = (list(stsb_small.sentence1), list(stsb_small.sentence2), stsb_small.score)
    for data in (stsb_small, Dataset.from_pandas(stsb_small), as_tuple):
        s1, s2, scores = pair_columns(data)
        assert s1[0] == stsb_small.sentence1[0] and scores[3] == stsb_small.score[3]
    with pytest.raises(ValueError, match="label column"):
        pair_columns(stsb_small.drop(columns="score"))
    with pytest.raises(TypeError, match="tuple"):
        pair_columns([("a", "b", 0.5)] * 3)


@pytest.mark.slow
def test_minilm_grid_matches_the_reference_cell_by_cell(minilm_dir, shared_data):
    """all-MiniLM-L6-v2 zero-shot on STS-B test == sentence-transformers 6.2's per-cell grid."""
    from workbench.models.bi_encoder import BiEncoder

    reference_file = shared_data.parent / "reference" / "st-6.2-cpu.json"
    reference = pd.DataFrame(json.loads(reference_file.read_text())["zero_shot"]["grid"])
    test = pd.read_parquet(shared_data / "stsb" / "test.parquet")
    frame = grid(BiEncoder.from_pretrained(minilm_dir), test, measure_latency=False)
    merged = frame.merge(reference, on=["layer", "dim"], suffixes=("", "_ref"), validate="1:1")
    assert len(merged) == len(reference) == len(frame) == 30
    worst = (merged.spearman_cosine - merged.spearman_cosine_ref).abs().max()
    assert worst <= 1e-4 and not math.isnan(worst)
    assert (frame.status == "ok").all()
