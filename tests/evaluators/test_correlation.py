"""The workbench's Pearson and Spearman against scipy's on the same vectors."""

import math
import warnings

import numpy as np
import pytest
from scipy.stats import pearsonr, rankdata, spearmanr

from workbench.evaluators.correlation import Gold, average_ranks, correlations, pearson
from workbench.evaluators.similarity import compute


def _scipy(gold, predicted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pearsonr(gold, predicted)[0]), float(spearmanr(gold, predicted)[0])


@pytest.mark.parametrize("seed", range(5))
def test_matches_scipy_with_ties_on_both_sides(seed):
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 26, 1379) / 5.0  # STS-B-like: many tied gold scores
    predicted = (gold + rng.normal(0, 2, 1379)).astype(np.float32)
    predicted[rng.choice(1379, 40)] = predicted[0]  # and tied predictions
    ours, ref = correlations(gold, predicted), _scipy(gold, predicted)
    assert ours == pytest.approx(ref, abs=1e-12)
    np.testing.assert_array_equal(average_ranks(predicted), rankdata(predicted))


def test_one_gold_serves_many_predictions():
    rng = np.random.default_rng(7)
    gold = Gold(rng.normal(size=300))
    for _ in range(3):
        predicted = rng.normal(size=300)
        assert gold.correlations(predicted) == pytest.approx(_scipy(gold.scores, predicted),
                                                             abs=1e-12)


def test_perfect_and_reversed_orders():
    x = np.arange(10.0)
    assert correlations(x, x ** 3) == (pytest.approx(_scipy(x, x ** 3)[0]), 1.0)
    assert correlations(x, -x) == (-1.0, -1.0)


@pytest.mark.parametrize("predicted", [np.full(6, 0.5), np.array([1, 2, np.nan, 4, 5, 6.0])])
def test_constant_or_nan_predictions_give_nan_not_a_warning(predicted):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r, rho = correlations(np.arange(6.0), predicted)
    assert math.isnan(r) and math.isnan(rho)
    assert all(math.isnan(v) for v in _scipy(np.arange(6.0), predicted))


def test_constant_gold_gives_nan():
    assert all(math.isnan(v) for v in correlations(np.ones(5), np.arange(5.0)))
    assert math.isnan(pearson(np.ones(5), np.arange(5.0)))


def test_length_mismatch_names_both_lengths():
    with pytest.raises(ValueError, match="4 predictions for 5 gold scores"):
        correlations(np.arange(5.0), np.arange(4.0))



@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_scores_give_nan_not_a_warning(n):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r, rho = correlations(np.arange(float(n)), np.arange(float(n)))
    assert math.isnan(r) and math.isnan(rho)


@pytest.mark.parametrize("n", [0, 1])
def test_similarity_compute_diagnoses_fewer_than_two_gold_scores(n):
    emb = np.random.default_rng(0).normal(size=(n, 8))
    result = compute(emb, emb, np.ones(n))
    assert result.diagnosis.startswith(f"{n} gold scores: correlation needs at least 2")
    assert not result.metrics
