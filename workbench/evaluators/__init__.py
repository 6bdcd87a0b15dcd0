"""Evaluators: similarity, binary classification, retrieval, cross-encoder correlation, the grid.

Every evaluator is a callable returning an ``EvalResult`` (metrics keyed like the seed cards,
primary metric, status "ok" | "degenerate", diagnosis); each module's ``compute`` takes arrays.
"""

from __future__ import annotations

from workbench.evaluators.base import DEGENERATE, OK, EvalResult
from workbench.evaluators.binary_classification import BinaryClassificationEvaluator
from workbench.evaluators.ce_correlation import CECorrelationEvaluator
from workbench.evaluators.grid import cut_layers, default_dims, grid
from workbench.evaluators.health import diagnose_embeddings, diagnose_scores, embedding_health
from workbench.evaluators.retrieval import RetrievalEvaluator
from workbench.evaluators.similarity import EmbeddingSimilarityEvaluator

__all__ = [
    "DEGENERATE", "OK", "BinaryClassificationEvaluator", "CECorrelationEvaluator",
    "EmbeddingSimilarityEvaluator", "EvalResult", "RetrievalEvaluator", "cut_layers", "default_dims",
    "diagnose_embeddings", "diagnose_scores", "embedding_health", "grid",
]
