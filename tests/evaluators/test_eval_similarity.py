"""EmbeddingSimilarityEvaluator: parity with sentence-transformers 6.2 and seed-card key names."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sentence_transformers.sentence_transformer.evaluation import (
    EmbeddingSimilarityEvaluator as STEmbeddingSimilarityEvaluator,
)

from workbench.evaluators import EmbeddingSimilarityEvaluator
from workbench.evaluators.similarity import SIMILARITY_FNS, compute, pairwise_scores


def test_compute_matches_reference_within_1e6(pairs):
    st = STEmbeddingSimilarityEvaluator(pairs.s1, pairs.s2, pairs.gold, name="sts-dev",
                                        main_similarity="cosine",
                                        similarity_fn_names=list(SIMILARITY_FNS))
    expected = st(pairs.model)
    ours = compute(pairs.e1, pairs.e2, pairs.gold, name="sts-dev")
    assert ours.status == "ok" and ours.diagnosis is None
    assert set(ours.metrics) == set(expected)
    for key, value in expected.items():
        assert ours.metrics[key] == pytest.approx(value, abs=1e-6), key
    assert ours.primary_metric == st.primary_metric == "sts-dev_spearman_cosine"


def test_single_function_has_no_max_and_its_own_primary(pairs):
    st = STEmbeddingSimilarityEvaluator(pairs.s1, pairs.s2, pairs.gold, similarity_fn_names=["dot"])
    expected = st(pairs.model)
    ours = compute(pairs.e1, pairs.e2, pairs.gold, similarity_fns=["dot"])
    assert set(ours.metrics) == set(expected) == {"pearson_dot", "spearman_dot"}
    assert ours.metrics["spearman_dot"] == pytest.approx(expected["spearman_dot"], abs=1e-6)
    assert ours.primary_metric == st.primary_metric == "spearman_dot"


def test_pairwise_scores_are_the_reference_scores_bit_for_bit(pairs):
    from sentence_transformers.util import (
        pairwise_cos_sim,
        pairwise_dot_score,
        pairwise_euclidean_sim,
        pairwise_manhattan_sim,
    )

    ref = {"cosine": pairwise_cos_sim, "dot": pairwise_dot_score,
           "manhattan": pairwise_manhattan_sim, "euclidean": pairwise_euclidean_sim}
    ours = pairwise_scores(pairs.e1, pairs.e2)
    for fn, ref_fn in ref.items():
        np.testing.assert_array_equal(ours[fn], ref_fn(pairs.e1, pairs.e2).numpy(), err_msg=fn)


def test_key_names_are_the_seed_cards(shared_data, pairs):
    card = (shared_data.parent / "seeds").glob("000_*.txt")
    front = next(card).read_text().split("widget:")[0]
    seed_keys = set(re.findall(r"^- ((?:pearson|spearman)_\w+)$", front, flags=re.M))
    assert len(seed_keys) == 10
    assert set(compute(pairs.e1, pairs.e2, pairs.gold).metrics) == seed_keys
    prefixed = compute(pairs.e1, pairs.e2, pairs.gold, name="sts-dev").metrics
    assert "sts-dev_spearman_cosine" in prefixed and "spearman_cosine" not in prefixed


def test_evaluator_on_a_model_equals_compute_on_its_embeddings(tiny_encoder, stsb_small):
    ev = EmbeddingSimilarityEvaluator.from_dataset(stsb_small, name="sts-dev", batch_size=16)
    result = ev(tiny_encoder, layer=2, dim=16)
    s1, s2 = list(stsb_small.sentence1), list(stsb_small.sentence2)
    e1 = tiny_encoder.encode(s1, layer=2, dim=16)
    e2 = tiny_encoder.encode(s2, layer=2, dim=16)
    direct = compute(e1, e2, stsb_small.score, name="sts-dev")
    assert result.status == "ok" and ev.primary_metric == result.primary_metric
    assert result.metrics.keys() == direct.metrics.keys()
    for key, value in direct.metrics.items():
        assert result.metrics[key] == pytest.approx(value, abs=1e-5), key
    with pytest.raises(ValueError, match="layer 9"):
        ev(tiny_encoder, layer=9)
