"""Retrieval metrics from embeddings: nDCG@10 (main), MRR@10, Recall@100, MAP@100 and more.

The same numbers as sentence-transformers 6.2 ``InformationRetrievalEvaluator`` on the same
embeddings (cosine scores; hits ranked by score, ties broken by ascending corpus id; binary
relevance). For a query with relevant set R and ranked hits h_1..h_k (rel_i = [h_i in R]):
``ndcg@k = sum_i rel_i / log2(i + 1) / sum_{i <= min(|R|, k)} 1 / log2(i + 1)``;
``mrr@k = 1 / rank of the first relevant hit`` (0 if none in the top k);
``recall@k = |hits in top k| / |R|``; ``precision@k = |hits in top k| / k``;
``accuracy@k = [any hit in top k]``; ``map@k = sum_i rel_i P@i / min(k, |R|)``; all averaged
over queries. Keys ``{name}_cosine_ndcg@10`` as in the reference; primary ``cosine_ndcg@10``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from workbench.data.retrieval import RetrievalData
from workbench.evaluators.base import EvalResult, finalize
from workbench.evaluators.health import diagnose_embeddings


@dataclass(frozen=True)
class Cutoffs:
    """The k of each metric (sentence-transformers' defaults, plus Recall@100)."""

    ndcg: tuple[int, ...] = (10,)
    mrr: tuple[int, ...] = (10,)
    accuracy: tuple[int, ...] = (1, 3, 5, 10)
    precision_recall: tuple[int, ...] = (1, 3, 5, 10, 100)
    map: tuple[int, ...] = (100,)

    @property
    def max_k(self) -> int:
        return max(*self.ndcg, *self.mrr, *self.accuracy, *self.precision_recall, *self.map)


CUTOFFS = Cutoffs()
MAIN_METRIC = "ndcg@10"
"""The retrieval tasks' main score (MTEB's and the reference's)."""


def id_ranks(ids: Sequence[str]) -> torch.Tensor:
    """Position of each id in ascending string order: the tie-break key of the ranking."""
    order = sorted(range(len(ids)), key=ids.__getitem__)
    ranks = torch.empty(len(ids), dtype=torch.long)
    ranks[torch.tensor(order, dtype=torch.long)] = torch.arange(len(ids))
    return ranks


def top_k(scores: torch.Tensor, k: int, ranks: torch.Tensor) -> torch.Tensor:
    """(Q, k) corpus indices, best first under the total order (-score, corpus id).

    ``torch.topk`` picks arbitrarily among ties; rows with ties at the k-th score are re-selected
    with an integer key so the result is unique (as the reference does).
    """
    k = min(k, scores.shape[1])
    values, idx = torch.topk(scores, k, dim=1, largest=True, sorted=False)
    thresholds = values.min(dim=1, keepdim=True).values
    tied = ((scores >= thresholds).sum(dim=1) > k).nonzero().flatten()
    if len(tied):
        rows, n = scores[tied], scores.shape[1]
        keys = torch.where(rows > thresholds[tied], ranks, 2 * n)
        keys = torch.where(rows == thresholds[tied], ranks + n, keys)
        idx[tied] = keys.topk(k, dim=1, largest=False).indices
    return sort_hits(scores.gather(1, idx), idx, ranks)


def sort_hits(values: torch.Tensor, idx: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
    """Reorder each row's candidates ``idx`` (scores ``values``) by (-score, corpus id)."""
    by_id = torch.argsort(ranks[idx], dim=1, stable=True)
    idx, values = idx.gather(1, by_id), values.gather(1, by_id)
    by_score = torch.argsort(-values, dim=1, stable=True)
    return idx.gather(1, by_score)


def hit_matrix(ranked: torch.Tensor, corpus_ids: Sequence[str], query_ids: Sequence[str],
               relevant: dict[str, set[str]]) -> np.ndarray:
    """(Q, k) booleans: whether the i-th ranked document of each query is relevant."""
    ids = np.asarray(corpus_ids, dtype=object)[ranked.numpy()]
    return np.array([[d in relevant[q] for d in row] for q, row in zip(query_ids, ids, strict=True)],
                    dtype=bool).reshape(ranked.shape)


def ir_metrics(hits: np.ndarray, n_relevant: np.ndarray, cutoffs: Cutoffs = CUTOFFS
               ) -> dict[str, float]:
    """The module formulas over a (Q, k) hit matrix and each query's relevant count |R|."""
    n_relevant = np.asarray(n_relevant, dtype=np.float64)
    discount = 1.0 / np.log2(np.arange(hits.shape[1]) + 2)
    found = np.cumsum(hits, axis=1)
    out: dict[str, float] = {}
    for k in cutoffs.accuracy:
        out[f"accuracy@{k}"] = float(hits[:, :k].any(axis=1).mean())
    for k in cutoffs.precision_recall:
        out[f"precision@{k}"] = float((hits[:, :k].sum(axis=1) / k).mean())
        out[f"recall@{k}"] = float((hits[:, :k].sum(axis=1) / n_relevant).mean())
    for k in cutoffs.mrr:
        found_any = hits[:, :k].any(axis=1)
        reciprocal = 1.0 / (hits[:, :k].argmax(axis=1) + 1)
        out[f"mrr@{k}"] = float(np.where(found_any, reciprocal, 0.0).mean())
    for k in cutoffs.ndcg:
        ideal_discount = 1.0 / np.log2(np.arange(k) + 2)
        ideal = np.array([ideal_discount[:int(min(r, k))].sum() for r in n_relevant])
        out[f"ndcg@{k}"] = float(((hits[:, :k] * discount[:k]).sum(axis=1) / ideal).mean())
    for k in cutoffs.map:
        ranks = np.arange(1, hits.shape[1] + 1)[:k]
        precision_at_hit = np.where(hits[:, :k], found[:, :k] / ranks, 0.0)
        out[f"map@{k}"] = float((precision_at_hit.sum(axis=1) / np.minimum(k, n_relevant)).mean())
    return out


def cosine_scores(queries: torch.Tensor, corpus: torch.Tensor) -> torch.Tensor:
    """(Q, N) cosine similarities, computed as sentence-transformers' ``cos_sim``."""
    return torch.mm(F.normalize(queries.float(), p=2, dim=1), F.normalize(corpus.float(), p=2, dim=1).T)


def metrics_from_ranking(ranked: torch.Tensor, data: RetrievalData, name: str = "",
                         score_name: str = "cosine", cutoffs: Cutoffs = CUTOFFS) -> EvalResult:
    """Metrics of a (Q, k) ranking of ``data``'s corpus (rows in ``data.queries`` order)."""
    qids = list(data.queries)
    hits = hit_matrix(ranked, list(data.corpus), qids, data.relevant)
    values = ir_metrics(hits, np.array([len(data.relevant[q]) for q in qids]), cutoffs)
    return finalize({f"{score_name}_{k}": v for k, v in values.items()},
                    f"{score_name}_{MAIN_METRIC}", name)


def compute(query_emb: Any, corpus_emb: Any, data: RetrievalData, name: str = "",
            cutoffs: Cutoffs = CUTOFFS, check_health: bool = True) -> EvalResult:
    """Metrics for one cell's embeddings (rows in ``data.queries`` / ``data.corpus`` order)."""
    q, c = torch.as_tensor(np.asarray(query_emb)), torch.as_tensor(np.asarray(corpus_emb))
    if q.shape[0] != len(data.queries) or c.shape[0] != len(data.corpus):
        raise ValueError(f"{data.name}: got {q.shape[0]} query and {c.shape[0]} corpus embeddings "
                         f"for {len(data.queries)} queries and {len(data.corpus)} documents")
    diagnosis = diagnose_embeddings(c.float()) if check_health else None
    if diagnosis is not None:
        return finalize({}, f"cosine_{MAIN_METRIC}", name, diagnosis)
    ranked = top_k(cosine_scores(q, c), cutoffs.max_k, id_ranks(list(data.corpus)))
    return metrics_from_ranking(ranked, data, name, "cosine", cutoffs)


class RetrievalEvaluator:
    """Retrieval quality of one (layer, dim) cell of a bi-encoder.

    Args:
        data: a :class:`RetrievalData` (``workbench.data.retrieval.load_retrieval``).
        name: key prefix, e.g. "scifact" gives ``scifact_cosine_ndcg@10``.
        batch_size, precision: passed to ``BiEncoder.encode_layers`` ("bf16" for long corpora).

    Example:
        >>> ev = RetrievalEvaluator(load_retrieval("scifact"), name="scifact")
        >>> ev(encoder, layer=3, dim=128).metrics["scifact_cosine_ndcg@10"]
    """

    def __init__(self, data: RetrievalData, name: str = "", batch_size: int = 32,
                 precision: str = "fp32", cutoffs: Cutoffs = CUTOFFS) -> None:
        self.data, self.name, self.cutoffs = data, name, cutoffs
        self.batch_size, self.precision = batch_size, precision
        self.primary_metric = f"{name}_cosine_{MAIN_METRIC}" if name else f"cosine_{MAIN_METRIC}"

    def embed(self, model: Any, layers: Sequence[int] | None = None
              ) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]:
        """ONE encode of the queries and ONE of the corpus for every requested layer."""
        queries = model.encode_layers(list(self.data.queries.values()), layers, self.batch_size,
                                      self.precision)
        corpus = model.encode_layers(list(self.data.corpus.values()), layers, self.batch_size,
                                     self.precision, show_progress=len(self.data.corpus) > 1000)
        return queries, corpus

    def __call__(self, model: Any, layer: int | None = None, dim: int | None = None) -> EvalResult:
        """Encode at ``layer`` (default: last), keep ``dim`` dims (re-normalised), and score."""
        from workbench.models.bi_encoder import truncate

        layer = layer or model.num_layers
        model.check_cell(layer, dim)
        queries, corpus = self.embed(model, [layer])
        q, c = queries[layer], corpus[layer]
        if dim is not None:
            q, c = truncate(q, dim, model.normalize), truncate(c, dim, model.normalize)
        return compute(q, c, self.data, self.name, self.cutoffs)
