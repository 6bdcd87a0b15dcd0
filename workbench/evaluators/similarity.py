"""Embedding similarity: Pearson and Spearman between gold scores and pair similarities.

Equivalent of sentence-transformers 6.2 ``EmbeddingSimilarityEvaluator`` with every similarity
function on: for f in cosine, manhattan, euclidean, dot,
``pearson_f = pearsonr(gold, f(u_i, v_i))`` and ``spearman_f = spearmanr(gold, f(u_i, v_i))``
(as scipy computes them: :mod:`workbench.evaluators.correlation`), plus ``pearson_max`` /
``spearman_max`` over f. Manhattan and euclidean are negative distances, so larger means more
similar. Keys: ``{name}_{pearson|spearman}_{f}`` as in the seed cards
(``sts-dev_spearman_cosine``); primary metric ``spearman_cosine``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from workbench.evaluators.base import (
    EvalResult,
    PairEvaluator,
    finalize,
    finite_max,
    metric_key,
)
from workbench.evaluators.correlation import Gold
from workbench.evaluators.health import diagnose_embeddings, diagnose_scores

SIMILARITY_FNS = ("cosine", "manhattan", "euclidean", "dot")


def _tensor(x: Any) -> torch.Tensor:
    """CPU tensor; fp32 unless already fp32/fp64 (as sentence-transformers' float conversion)."""
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    t = t.detach().cpu()
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def pairwise_scores(emb1: Any, emb2: Any, fns: Sequence[str] = SIMILARITY_FNS
                    ) -> dict[str, np.ndarray]:
    """Row-wise similarities (fp32, or fp64 for fp64 input) with sentence-transformers' torch ops.

    cosine = <u/|u|, v/|v|>; dot = <u, v>; manhattan = -sum|u - v|; euclidean = -||u - v||_2.
    """
    a, b = _tensor(emb1), _tensor(emb2)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need two (N, D) embedding matrices of equal shape; got {a.shape}, {b.shape}")
    ops = {
        "cosine": lambda: (F.normalize(a, p=2, dim=-1) * F.normalize(b, p=2, dim=-1)).sum(dim=-1),
        "dot": lambda: (a * b).sum(dim=-1),
        "manhattan": lambda: -torch.sum(torch.abs(a - b), dim=-1),
        "euclidean": lambda: -torch.linalg.vector_norm(a - b, dim=-1),
    }
    unknown = set(fns) - set(ops)
    if unknown:
        raise ValueError(f"unknown similarity function(s) {sorted(unknown)}; choose from {SIMILARITY_FNS}")
    return {fn: ops[fn]().numpy() for fn in fns}


def compute(emb1: Any, emb2: Any, scores: Any, name: str = "",
            similarity_fns: Sequence[str] = SIMILARITY_FNS, check_health: bool = True) -> EvalResult:
    """Metrics for one embedding cell: ``emb1[i]`` and ``emb2[i]`` with gold ``scores[i]``
    (a :class:`~workbench.evaluators.correlation.Gold` when many cells share them).

    ``check_health`` withholds every metric when the embeddings collapsed (see ``health``).
    """
    gold = scores if isinstance(scores, Gold) else Gold(scores)
    diagnosis = diagnose_scores(gold.scores, "gold scores")
    if diagnosis is None and check_health:
        diagnosis = diagnose_embeddings(torch.cat([_tensor(emb1), _tensor(emb2)]))
    primary = "spearman_cosine" if "cosine" in similarity_fns else f"spearman_{similarity_fns[0]}"
    if diagnosis is not None:
        return finalize({}, primary, name, diagnosis)
    metrics: dict[str, float] = {}
    notes = []
    for fn, sims in pairwise_scores(emb1, emb2, similarity_fns).items():
        metrics[f"pearson_{fn}"], metrics[f"spearman_{fn}"] = gold.correlations(sims)
        note = diagnose_scores(sims, f"{fn} similarities")
        if note:
            notes.append(note)
    if len(similarity_fns) > 1:
        for stat in ("pearson", "spearman"):
            metrics[f"{stat}_max"] = finite_max([metrics[f"{stat}_{fn}"] for fn in similarity_fns])
    return finalize(metrics, primary, name, diagnosis, notes)


class EmbeddingSimilarityEvaluator(PairEvaluator):
    """Correlation of embedding similarities with gold scores for one (layer, dim) cell.

    Args:
        sentences1, sentences2: the pair columns.
        scores: gold similarity per pair (any scale; correlations are scale-free).
        name: key prefix, e.g. "sts-dev" gives ``sts-dev_spearman_cosine``.
        similarity_fns: subset of ``SIMILARITY_FNS``; ``*_max`` keys appear when more than one.
        batch_size, precision: passed to ``BiEncoder.encode_layers``.

    Example:
        >>> ev = EmbeddingSimilarityEvaluator.from_dataset(load_dataset("stsb", "validation"), "sts-dev")
        >>> ev(encoder, layer=3, dim=128).metrics["sts-dev_spearman_cosine"]
    """

    def __init__(self, sentences1: Sequence[str], sentences2: Sequence[str], scores: Sequence[float],
                 name: str = "", similarity_fns: Sequence[str] = SIMILARITY_FNS,
                 batch_size: int = 64, precision: str = "fp32") -> None:
        super().__init__(sentences1, sentences2, scores, name, similarity_fns, batch_size, precision)
        primary = "spearman_cosine" if "cosine" in self.similarity_fns else f"spearman_{self.similarity_fns[0]}"
        self.primary_metric = metric_key(name, primary)

    @property
    def scores(self) -> Sequence[float]:
        """The gold similarity per pair."""
        return self.gold

    def score(self, emb1: torch.Tensor, emb2: torch.Tensor) -> EvalResult:
        return compute(emb1, emb2, self.gold, self.name, self.similarity_fns)
