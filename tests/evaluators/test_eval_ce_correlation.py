"""CECorrelationEvaluator: parity with sentence-transformers 6.2's CrossEncoderCorrelationEvaluator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from eval_helpers import FixedCE
from sentence_transformers.cross_encoder.evaluation import CrossEncoderCorrelationEvaluator

from workbench.evaluators import CECorrelationEvaluator
from workbench.evaluators.ce_correlation import compute


@pytest.fixture()
def scored_pairs():
    rng = np.random.default_rng(3)
    pairs = [(f"query {i}", f"passage {i}") for i in range(200)]
    gold = rng.random(200)
    predicted = 1 / (1 + np.exp(-(gold * 4 - 2 + rng.normal(scale=1.0, size=200))))
    return pairs, gold, FixedCE(dict(zip(pairs, predicted.astype(np.float32), strict=True)))


def test_evaluator_matches_reference_within_1e6(scored_pairs):
    pairs, gold, model = scored_pairs
    expected = CrossEncoderCorrelationEvaluator(pairs, gold.tolist(), name="stsb-test")(model)
    result = CECorrelationEvaluator(pairs, gold, name="stsb-test")(model)
    assert result.status == "ok" and result.primary_metric == "stsb-test_spearman"
    assert set(result.metrics) == set(expected) == {"stsb-test_pearson", "stsb-test_spearman"}
    for key, value in expected.items():
        assert result.metrics[key] == pytest.approx(value, abs=1e-6), key


def test_compute_takes_a_tensor_of_predictions(scored_pairs):
    pairs, gold, model = scored_pairs
    predicted = model.predict(pairs)
    from_tensor = compute(torch.from_numpy(predicted), gold)
    assert from_tensor.metrics == compute(predicted, gold).metrics
    assert set(from_tensor.metrics) == {"pearson", "spearman"}


def test_constant_predictions_are_degenerate_with_a_diagnosis(scored_pairs):
    pairs, gold, _ = scored_pairs
    collapsed = FixedCE({p: 0.5 for p in pairs})
    result = CECorrelationEvaluator(pairs, gold, name="stsb-test")(collapsed)
    assert result.status == "degenerate" and result.metrics == {}
    assert "all 200 predictions identical (0.5)" in result.diagnosis
    assert result.primary is None


def test_from_dataset_reads_pairs_and_scores(stsb_small):
    ev = CECorrelationEvaluator.from_dataset(stsb_small, name="stsb-validation")
    assert ev.sentence_pairs[0] == (stsb_small.sentence1[0], stsb_small.sentence2[0])
    assert np.array_equal(ev.scores, stsb_small.score.to_numpy())
