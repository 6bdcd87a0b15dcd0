"""Quality of one task at one (layer, dim, precision) cell, from embeddings already computed.

STS: Spearman (main) and Pearson between gold scores and the pair similarity at that precision
(fp32 cosine; int8 code dot product, ranges calibrated on the task's distinct sentences; binary
minus Hamming distance). Pair classification: the threshold search of
``binary_classification`` on that similarity (main ``ap``). Retrieval: ``search.search`` then
``retrieval.metrics_from_ranking`` (main ``ndcg@10``); ``rescore`` = r re-scores the top k r.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from workbench.evaluators import quantize as q
from workbench.evaluators.binary_classification import check_labels, classify_scores
from workbench.evaluators.correlation import Gold
from workbench.evaluators.health import diagnose_embeddings
from workbench.evaluators.retrieval import CUTOFFS, metrics_from_ranking
from workbench.evaluators.search import Index, search

RETRIEVAL_COLUMNS = ("ndcg@10", "mrr@10", "recall@100", "map@100")
PAIR_CLASS_COLUMNS = ("ap", "accuracy", "f1")


def pair_similarity(emb1: torch.Tensor, emb2: torch.Tensor, precision: str,
                    calibration: torch.Tensor | None = None) -> np.ndarray:
    """Row-wise similarity of two (N, d) matrices at ``precision`` (module formulas)."""
    if precision == "fp32":
        a = torch.nn.functional.normalize(emb1.float(), dim=1)
        b = torch.nn.functional.normalize(emb2.float(), dim=1)
        return (a * b).sum(dim=1).numpy()
    if precision == "int8":
        ranges = q.calibration_ranges(torch.cat([emb1, emb2]) if calibration is None else calibration)
        a, b = (q.quantize(e, "int8", ranges).astype(np.int64) for e in (emb1, emb2))
        return (a * b).sum(axis=1).astype(np.float64)
    dim = emb1.shape[1]
    a, b = (q.unpack_bits(q.quantize(e, "binary"), dim) for e in (emb1, emb2))
    return -np.abs(a - b).sum(axis=1).astype(np.float64)


def pair_cell(kind: str, emb1: torch.Tensor, emb2: torch.Tensor, labels: np.ndarray | Gold,
              precision: str) -> tuple[dict[str, float], str | None]:
    """(metrics with ``score`` = main metric, diagnosis) of one pair task cell.

    ``labels`` may be a :class:`Gold` prepared once for every cell of an STS task (its scores
    ranked once, not in each cell).
    """
    diagnosis = diagnose_embeddings(torch.cat([emb1, emb2]))
    if diagnosis is not None:
        return {"score": np.nan}, diagnosis
    sims = pair_similarity(emb1, emb2, precision)
    if kind == "sts":
        gold = labels if isinstance(labels, Gold) else Gold(labels)
        pearson, spearman = gold.correlations(sims)
        return {"score": spearman, "spearman": spearman, "pearson": pearson}, None
    raw = labels.scores if isinstance(labels, Gold) else labels
    values = classify_scores(sims, check_labels(raw), True)
    return {"score": values["ap"], **{k: float(values[k]) for k in PAIR_CLASS_COLUMNS}}, None


def retrieval_cell(data: Any, queries: torch.Tensor, corpus_index: Index, ranks: torch.Tensor,
                   rescore: int = 0) -> tuple[dict[str, float], str | None]:
    """(metrics with ``score`` = nDCG@10, diagnosis) of one retrieval cell."""
    ranked = search(corpus_index, queries, CUTOFFS.max_k, ranks, rescore)
    result = metrics_from_ranking(ranked, data, "", "cosine")
    values = {k: result.metrics.get(f"cosine_{k}", np.nan) for k in RETRIEVAL_COLUMNS}
    return {"score": values["ndcg@10"], **values}, result.diagnosis
