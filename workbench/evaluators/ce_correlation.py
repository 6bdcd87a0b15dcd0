"""Cross-encoder correlation: Pearson and Spearman of predicted pair scores against gold scores.

Equivalent of sentence-transformers 6.2 ``CrossEncoderCorrelationEvaluator`` (seed card 003):
``pearson = pearsonr(gold, model.predict(pairs))``, ``spearman = spearmanr(...)`` (scipy).
Keys ``{name}_pearson`` / ``{name}_spearman`` (``stsb-test_spearman``); primary ``spearman``.
Constant predictions (a collapsed reranker) give status "degenerate", never a NaN number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from workbench.evaluators.base import EvalResult, finalize, metric_key, pair_columns
from workbench.evaluators.correlation import correlations
from workbench.evaluators.health import diagnose_scores


def compute(predictions: Any, scores: Any, name: str = "") -> EvalResult:
    """Pearson and Spearman of ``predictions[i]`` against gold ``scores[i]``."""
    if isinstance(predictions, torch.Tensor):
        predictions = predictions.detach().float().cpu().numpy()
    predicted = np.asarray(predictions).reshape(-1)
    gold = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} gold scores")
    diagnosis = diagnose_scores(gold, "gold scores") or diagnose_scores(predicted, "predictions")
    pearson, spearman = correlations(gold, predicted)
    return finalize({"pearson": pearson, "spearman": spearman}, "spearman", name, diagnosis)


class CECorrelationEvaluator:
    """Correlation of a cross-encoder's predicted scores with gold similarity scores.

    Args:
        sentence_pairs: ``[(text_a, text_b), ...]``.
        scores: gold score per pair.
        name: key prefix, e.g. "stsb-validation".
        batch_size: passed to ``CrossEncoder.predict``.

    Example:
        >>> ev = CECorrelationEvaluator.from_dataset(load_dataset("stsb", "test"), "stsb-test")
        >>> ev(reranker).metrics["stsb-test_spearman"]
    """

    def __init__(self, sentence_pairs: Sequence[Sequence[str]], scores: Sequence[float],
                 name: str = "", batch_size: int = 32) -> None:
        self.sentence_pairs = [(str(a), str(b)) for a, b in sentence_pairs]
        self.scores = np.asarray(scores, dtype=np.float64)
        if len(self.sentence_pairs) != len(self.scores):
            raise ValueError(f"{len(self.sentence_pairs)} pairs for {len(self.scores)} scores")
        self.name = name
        self.batch_size = batch_size
        self.primary_metric = metric_key(name, "spearman")

    @classmethod
    def from_dataset(cls, data: Any, name: str = "", label_column: str | None = None,
                     **kwargs: Any) -> CECorrelationEvaluator:
        """From a ``datasets.Dataset``, DataFrame or ``(s1, s2, scores)`` tuple."""
        s1, s2, scores = pair_columns(data, label_column)
        return cls(list(zip(s1, s2, strict=True)), scores, name=name, **kwargs)

    def __call__(self, model: Any) -> EvalResult:
        """Score every pair with ``model.predict(pairs, batch_size=...)`` and correlate."""
        predictions = model.predict(self.sentence_pairs, batch_size=self.batch_size)
        return compute(predictions, self.scores, self.name)
