"""Binary classification of pairs by a similarity threshold (same search as sentence-transformers 6.2).

For f in cosine, dot (higher = similar) and manhattan, euclidean (distances, lower = similar):
sort pairs by score; at each boundary between distinct scores, predict "similar" on one side.
``accuracy`` = best (TP + TN) / N over boundaries (start: everything dissimilar, threshold just past
the top score); ``f1`` = best 2PR / (P + R) with its precision and recall; the threshold is the
midpoint of the two scores around the boundary (the score itself if the midpoint rounds onto the
next). ``ap`` = sklearn ``average_precision_score``; ``mcc`` = Matthews correlation at the F1
threshold. Ties go to the first boundary, as in the reference's strict ``>`` scan.

``max_{metric}`` is the max over the functions, taken per metric *including thresholds*, exactly
as the reference (seed card 000's ``max_accuracy_threshold`` is the manhattan one). Primary: ``max_ap``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.metrics import average_precision_score, matthews_corrcoef

from workbench.evaluators.base import (
    EvalResult,
    PairEvaluator,
    finalize,
    finite_max,
    metric_key,
)
from workbench.evaluators.health import diagnose_embeddings
from workbench.evaluators.similarity import pairwise_scores

BINARY_FNS = ("cosine", "dot", "manhattan", "euclidean")
HIGHER_IS_SIMILAR = {"cosine": True, "dot": True, "manhattan": False, "euclidean": False}
METRICS = ("accuracy", "accuracy_threshold", "f1", "f1_threshold", "precision", "recall", "ap", "mcc")


def _sorted_groups(scores: np.ndarray, labels: np.ndarray, high: bool
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores and labels sorted most-similar first, and the index ending each tie group."""
    order = np.argsort(scores, kind="stable")
    if high:
        order = order[::-1]
    s, y = scores[order], labels[order]
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    return s, y, ends


def _threshold(s: np.ndarray, i: int) -> Any:
    """Midpoint between group end ``i`` and the next score, in the scores' dtype."""
    if i == len(s) - 1:
        return s[i]
    mid = (s[i] + s[i + 1]) / 2
    return s[i] if mid == s[i + 1] else mid


def find_best_acc_and_threshold(scores: Any, labels: Any, high_score_more_similar: bool
                                ) -> tuple[float, Any]:
    """Best accuracy and its threshold (vectorised ``BinaryClassificationEvaluator`` search)."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    if len(scores) == 0:
        return 0, -1
    s, y, ends = _sorted_groups(scores, labels, high_score_more_similar)
    negatives = int((labels == 0).sum())
    correct = np.cumsum(y == 1)[ends] + negatives - np.cumsum(y != 1)[ends]
    best = int(np.argmax(correct))
    if correct[best] > negatives:
        return correct[best] / len(s), _threshold(s, int(ends[best]))
    dtype = np.result_type(scores.dtype, np.float16)
    start = np.nextafter(s[0], np.inf if high_score_more_similar else -np.inf, dtype=dtype)
    return negatives / len(s), start


def find_best_f1_and_threshold(scores: Any, labels: Any, high_score_more_similar: bool
                               ) -> tuple[float, float, float, Any]:
    """Best F1 with its precision, recall and threshold (vectorised reference search)."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    if len(scores) == 0:
        return 0, 0, 0, 0
    s, y, ends = _sorted_groups(scores, labels, high_score_more_similar)
    correct = np.cumsum(y == 1)[ends]
    ends, correct = ends[correct > 0], correct[correct > 0]
    if len(ends) == 0:
        return 0, 0, 0, 0
    precision = correct / (ends + 1)
    recall = correct / labels.sum()
    f1 = 2 * precision * recall / (precision + recall)
    best = int(np.argmax(f1))
    return f1[best], precision[best], recall[best], _threshold(s, int(ends[best]))


def classify_scores(scores: np.ndarray, labels: np.ndarray, high: bool) -> dict[str, float]:
    """The eight metrics of one similarity function's scores."""
    acc, acc_threshold = find_best_acc_and_threshold(scores, labels, high)
    f1, precision, recall, f1_threshold = find_best_f1_and_threshold(scores, labels, high)
    predicted = scores >= f1_threshold if high else scores <= f1_threshold
    return {"accuracy": acc, "accuracy_threshold": acc_threshold, "f1": f1,
            "f1_threshold": f1_threshold, "precision": precision, "recall": recall,
            "ap": average_precision_score(labels, scores * (1 if high else -1)),
            "mcc": matthews_corrcoef(labels, predicted)}


def check_labels(labels: Any) -> np.ndarray:
    """Labels as an int array of 0/1; a clear error names the first bad row."""
    y = np.asarray(labels)
    bad = np.flatnonzero((y != 0) & (y != 1))
    if len(bad):
        raise ValueError(f"binary labels must be 0 or 1; row {bad[0]} has {y[bad[0]]!r}")
    return y.astype(np.int64)


def compute(emb1: Any, emb2: Any, labels: Any, name: str = "",
            similarity_fns: Sequence[str] = BINARY_FNS, check_health: bool = True) -> EvalResult:
    """Binary-classification metrics of one embedding cell; keys ``{name}_{fn}_{metric}``."""
    y = check_labels(labels)
    classes = np.unique(y)
    diagnosis = None if len(classes) == 2 else f"all {len(y):,} labels are {classes[0]}: need both classes"
    if diagnosis is None and check_health:
        diagnosis = diagnose_embeddings(np.concatenate([np.asarray(emb1), np.asarray(emb2)]))
    primary = "max_ap" if len(similarity_fns) > 1 else f"{similarity_fns[0]}_ap"
    if diagnosis is not None:
        return finalize({}, primary, name, diagnosis)
    per_fn = {}
    sims = pairwise_scores(emb1, emb2, similarity_fns)
    for fn in similarity_fns:
        high = HIGHER_IS_SIMILAR[fn]
        per_fn[fn] = classify_scores(sims[fn] if high else -sims[fn], y, high)
    metrics = {f"{fn}_{m}": v for fn, values in per_fn.items() for m, v in values.items()}
    if len(similarity_fns) > 1:
        metrics.update({f"max_{m}": finite_max([per_fn[fn][m] for fn in similarity_fns])
                        for m in METRICS})
    return finalize(metrics, primary, name, diagnosis)


class BinaryClassificationEvaluator(PairEvaluator):
    """Threshold classification of similar (1) / dissimilar (0) pairs for one (layer, dim) cell.

    Args:
        sentences1, sentences2: the pair columns.
        labels: 1 for similar, 0 for dissimilar.
        name: key prefix (``{name}_cosine_accuracy``).
        similarity_fns: subset of ``BINARY_FNS``; ``max_*`` keys appear when more than one.
        batch_size, precision: passed to ``BiEncoder.encode_layers``.
    """

    def __init__(self, sentences1: Sequence[str], sentences2: Sequence[str], labels: Sequence[int],
                 name: str = "", similarity_fns: Sequence[str] = BINARY_FNS,
                 batch_size: int = 64, precision: str = "fp32") -> None:
        super().__init__(sentences1, sentences2, labels, name, similarity_fns, batch_size, precision)
        self.labels = check_labels(self.gold)
        primary = "max_ap" if len(self.similarity_fns) > 1 else f"{self.similarity_fns[0]}_ap"
        self.primary_metric = metric_key(name, primary)

    def score(self, emb1: torch.Tensor, emb2: torch.Tensor) -> EvalResult:
        return compute(emb1, emb2, self.labels, self.name, self.similarity_fns)
