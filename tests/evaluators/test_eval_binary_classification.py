"""BinaryClassificationEvaluator: the same threshold search and numbers as sentence-transformers 6.2."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sentence_transformers.sentence_transformer.evaluation import (
    BinaryClassificationEvaluator as STBinaryClassificationEvaluator,
)

from workbench.evaluators import BinaryClassificationEvaluator
from workbench.evaluators.binary_classification import (
    BINARY_FNS,
    compute,
    find_best_acc_and_threshold,
    find_best_f1_and_threshold,
)

ST = STBinaryClassificationEvaluator


def test_compute_equals_reference_exactly(pairs):
    st = ST(pairs.s1, pairs.s2, pairs.labels, name="snli", similarity_fn_names=list(BINARY_FNS))
    expected = st(pairs.model)
    ours = compute(pairs.e1, pairs.e2, pairs.labels, name="snli")
    assert ours.status == "ok"
    assert list(ours.metrics) == list(expected)
    for key, value in expected.items():
        assert ours.metrics[key] == value, key
    assert ours.primary_metric == st.primary_metric == "snli_max_ap"


def _same_as_reference(scores: np.ndarray, labels: np.ndarray, high: bool) -> None:
    for ours, ref in ((find_best_acc_and_threshold, ST.find_best_acc_and_threshold),
                      (find_best_f1_and_threshold, ST.find_best_f1_and_threshold)):
        got, want = ours(scores, labels, high), ref(scores, labels, high)
        assert [float(v) for v in got] == [float(v) for v in want], (ours.__name__, scores, labels)


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("high", [True, False])
def test_threshold_search_equals_reference_on_ties(seed, high):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12 if seed < 20 else 60))
    dtype = np.float32 if seed % 2 else np.float64
    scores = (rng.integers(0, 8, size=n) / 7).astype(dtype)  # few distinct values: many ties
    labels = (rng.random(n) < [0.1, 0.5, 0.9][seed % 3]).astype(int)
    _same_as_reference(scores, labels, high)


@pytest.mark.parametrize("high", [True, False])
def test_equal_f1_keeps_the_first_boundary(high):
    scores = np.array([0.9, 0.8, 0.7, 0.6], dtype=np.float32)
    labels = np.array([1, 0, 0, 1])  # F1 = 2/3 after the first and after the last pair
    _same_as_reference(scores if high else -scores, labels, high)
    f1, _, _, threshold = find_best_f1_and_threshold(scores if high else -scores, labels, high)
    assert f1 == pytest.approx(2 / 3) and abs(threshold) == np.float32(0.85)


@pytest.mark.parametrize("high", [True, False])
def test_midpoint_rounding_onto_the_next_score_falls_back(high):
    base = np.float32(1.0)
    scores = np.array([base, np.nextafter(base, np.float32(2)), np.float32(0.5)], dtype=np.float32)
    for labels in ([1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 1, 1]):
        _same_as_reference(scores, np.array(labels), high)
        acc, threshold = find_best_acc_and_threshold(scores, np.array(labels), high)
        predicted = scores >= threshold if high else scores <= threshold
        assert acc == np.mean(predicted == np.array(labels))  # the threshold realises acc


def test_all_negative_labels_keep_the_reference_start_threshold():
    scores = np.array([0.9, 0.5, 0.1], dtype=np.float32)
    labels = np.array([0, 0, 0])
    got = find_best_acc_and_threshold(scores, labels, True)
    assert got == ST.find_best_acc_and_threshold(scores, labels, True)
    assert got[0] == 1.0 and got[1] > scores[0]
    assert find_best_f1_and_threshold(scores, labels, True) == (0, 0, 0, 0)


def test_key_names_are_seed_000s_35_plus_mcc(shared_data, pairs):
    front = next((shared_data.parent / "seeds").glob("000_*.txt")).read_text().split("widget:")[0]
    seed_keys = set(re.findall(r"^- ((?:cosine|dot|manhattan|euclidean|max)_\w+)$", front, re.M))
    assert len(seed_keys) == 35
    keys = set(compute(pairs.e1, pairs.e2, pairs.labels).metrics)
    assert keys - seed_keys == {f"{fn}_mcc" for fn in (*BINARY_FNS, "max")}
    assert seed_keys <= keys


def test_labels_other_than_0_1_fail_naming_the_row(pairs):
    labels = list(pairs.labels)
    labels[7] = 2
    with pytest.raises(ValueError, match="row 7"):
        compute(pairs.e1, pairs.e2, labels)


def test_one_class_is_degenerate_not_a_number(pairs):
    result = compute(pairs.e1, pairs.e2, [1] * len(pairs.labels))
    assert result.status == "degenerate" and result.metrics == {}
    assert "labels are 1" in result.diagnosis


def test_evaluator_runs_on_a_model(tiny_encoder, stsb_small):
    data = stsb_small.assign(label=(stsb_small.score > 0.5).astype(int)).drop(columns="score")
    ev = BinaryClassificationEvaluator.from_dataset(data, name="stsb-bin", batch_size=16)
    result = ev(tiny_encoder, dim=8)
    assert result.status == "ok" and result.primary_metric == ev.primary_metric == "stsb-bin_max_ap"
    assert 0.0 < result.primary <= 1.0 and len(result.metrics) == 40
