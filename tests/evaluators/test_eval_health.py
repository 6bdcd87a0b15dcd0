"""Degenerate detection: collapsed embeddings and NaN metrics are reported, never passed off."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench.evaluators import (
    BinaryClassificationEvaluator,
    EmbeddingSimilarityEvaluator,
    diagnose_embeddings,
    embedding_health,
    grid,
)
from workbench.evaluators.base import finalize
from workbench.evaluators.similarity import compute


def _collapse(encoder) -> None:
    """Zero every weight and set LayerNorm biases to 1: every token state becomes the ones vector."""
    with torch.no_grad():
        for name, p in encoder.transformer.named_parameters():
            p.fill_(1.0 if "LayerNorm.bias" in name else 0.0)


def test_constant_embedding_model_is_degenerate_with_a_diagnosis(tiny_encoder, stsb_small):
    _collapse(tiny_encoder)
    result = EmbeddingSimilarityEvaluator.from_dataset(stsb_small, "sts-dev")(tiny_encoder)
    n = len(set(stsb_small.sentence1) | set(stsb_small.sentence2))
    assert result.status == "degenerate" and not result.ok
    assert f"all {2 * len(stsb_small):,} embeddings identical (std 0.0)" in result.diagnosis, n
    assert result.metrics == {} and result.primary is None
    binary = BinaryClassificationEvaluator.from_dataset(
        stsb_small.assign(label=(stsb_small.score > 0.5).astype(int)).drop(columns="score"))
    assert binary(tiny_encoder).status == "degenerate"


def test_grid_of_a_collapsed_model_marks_every_cell(tiny_encoder, stsb_small):
    _collapse(tiny_encoder)
    frame = grid(tiny_encoder, stsb_small, dims=[32, 8], measure_latency=False)
    assert (frame["status"] == "degenerate").all()
    assert frame["diagnosis"].str.contains("identical").all()


def test_near_constant_embeddings_are_degenerate():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(1, 16))
    emb = base + rng.normal(scale=1e-9, size=(500, 16))
    reason = diagnose_embeddings(emb)
    assert reason is not None and "500 embeddings nearly identical" in reason
    h = embedding_health(emb)  # the message's numbers are the full statistics' own
    assert f"max per-dim std {h['std_max']:.1e}" in reason
    assert f"mean pairwise cosine {h['mean_pairwise_cosine']:.6f})" in reason
    result = compute(emb[:250], emb[250:], rng.random(250))
    assert result.status == "degenerate" and result.metrics == {}


def test_nan_embeddings_are_named():
    emb = np.ones((10, 4))
    emb[3, 1] = np.nan
    assert diagnose_embeddings(emb) == "1 of 10 embeddings contain NaN or inf"


def test_healthy_embeddings_pass_and_stats_are_exact():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(200, 12)) + 0.5
    assert diagnose_embeddings(emb) is None
    h = embedding_health(torch.from_numpy(emb).float())
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    cos = unit @ unit.T
    brute = (cos.sum() - np.trace(cos)) / (200 * 199)
    assert h["mean_pairwise_cosine"] == pytest.approx(brute, abs=1e-6)
    np.testing.assert_allclose(h["per_dim_std"], emb.std(axis=0), rtol=1e-5)
    assert h["std_max"] == pytest.approx(emb.std(axis=0).max(), rel=1e-5)
    assert (h["n"], h["dim"], h["identical"], h["nonfinite_rows"]) == (200, 12, False, 0)


def test_nan_metric_is_dropped_and_named():
    result = finalize({"pearson_cosine": 0.5, "spearman_cosine": math.nan}, "spearman_cosine",
                      name="sts-dev", notes=["all 9 cosine similarities identical (1)"])
    assert result.status == "degenerate"
    assert result.metrics == {"sts-dev_pearson_cosine": 0.5}
    assert "sts-dev_spearman_cosine" in result.diagnosis and "identical" in result.diagnosis
    assert all(math.isfinite(v) for v in result.metrics.values())


def test_constant_gold_scores_are_degenerate():
    rng = np.random.default_rng(2)
    result = compute(rng.normal(size=(30, 8)), rng.normal(size=(30, 8)), [0.5] * 30)
    assert result.status == "degenerate" and "all 30 gold scores identical" in result.diagnosis


def _spread(scale: float, dtype=torch.float64, offset: float = 1.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return (offset + scale * torch.randn(300, 16, generator=gen, dtype=torch.float64)).to(dtype)


@pytest.mark.parametrize("case", [
    "healthy", "at the bar", "just above the bar", "screen margin", "identical", "nan", "inf",
    "zeros", "huge float64", "tiny float64", "one row", "fp32 near constant",
])
def test_fp32_screen_gives_the_exact_verdict(case):
    """A tensor may skip the float64 checks (``_clearly_spread``); a numpy array never does."""
    from workbench.evaluators.health import NEAR_CONSTANT_RTOL, SCREEN_MARGIN, _clearly_spread

    emb = {"healthy": _spread(0.5), "at the bar": _spread(NEAR_CONSTANT_RTOL * 0.9),
           "just above the bar": _spread(NEAR_CONSTANT_RTOL * 3),
           "screen margin": _spread(NEAR_CONSTANT_RTOL * SCREEN_MARGIN * 1.5),
           "identical": torch.ones(50, 8), "nan": _spread(0.5).index_fill(0, torch.tensor([7]), math.nan),
           "inf": _spread(0.5).index_fill(0, torch.tensor([3]), math.inf),
           "zeros": torch.zeros(20, 4), "huge float64": _spread(1e100, offset=0.0),
           "tiny float64": _spread(1e-30, offset=0.0), "one row": torch.randn(1, 8),
           "fp32 near constant": _spread(2e-7, torch.float32)}[case]
    exact = diagnose_embeddings(emb.numpy())
    assert diagnose_embeddings(emb) == exact
    if case in ("healthy", "screen margin", "huge float64"):
        assert exact is None
    assert _clearly_spread(emb, NEAR_CONSTANT_RTOL) == (case in ("healthy", "huge float64", "tiny float64"))
    if case in ("at the bar", "identical", "nan", "inf", "zeros"):
        assert exact is not None
