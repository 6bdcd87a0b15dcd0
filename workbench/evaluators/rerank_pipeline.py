"""Retrieve-then-rerank: a bi-encoder cell retrieves the top N, the reranker cut to j layers
rescores them; quality (nDCG@10, MRR@10) and measured latency per query for every pair.

Per query: ``latency = encode(query at layer l) + search(dim d) + rerank(N pairs at depth j)``,
each *measured*: the query encode with the bi-encoder cut to ``l`` blocks (ms per query, batch of
queries), the exact search over the corpus at ``d`` dims (whole query batch, per query), and the
reranker cut to ``j`` blocks scoring the (query, document) pairs (seconds per pair x N). The corpus
and queries are encoded ONCE for all layers; each depth scores every distinct candidate pair
once for all cells. Depth 0 is retrieval alone. The metrics are
``workbench.evaluators.retrieval``'s (equal to sentence-transformers' InformationRetrievalEvaluator)
on the reranked list (ties keep the retrieval order).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from workbench.evaluators.grid import latency_per_depth
from workbench.evaluators.retrieval import (
    Cutoffs,
    cosine_scores,
    id_ranks,
    metrics_from_ranking,
    top_k,
)
from workbench.models.bi_encoder import truncate
from workbench.models.encode_cache import EncodeCache

CUTOFFS = Cutoffs(ndcg=(10,), mrr=(10,), accuracy=(1, 10), precision_recall=(10,), map=(10,))
METRICS = ("ndcg@10", "mrr@10", "recall@10")


def retrieve(queries: torch.Tensor, corpus: torch.Tensor, n: int, ranks: torch.Tensor,
             repeats: int = 3) -> tuple[torch.Tensor, float]:
    """Top ``n`` corpus rows per query by cosine, and the measured search seconds per query
    (exact search of the whole query batch, best of ``repeats``)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        ranked = top_k(cosine_scores(queries, corpus), n, ranks)
        best = min(best, time.perf_counter() - start)
    return ranked, best / queries.shape[0]


class PairScores:
    """The reranker's scores of (query row, corpus row) pairs at each depth, each pair scored
    once per depth; ``seconds_per_pair[depth]`` is the measured cost of the batched scoring."""

    def __init__(self, reranker: Any, queries: Sequence[str], corpus: Sequence[str],
                 batch_size: int = 32, precision: str = "fp32") -> None:
        self.reranker, self.queries, self.corpus = reranker, list(queries), list(corpus)
        self.batch_size, self.precision = batch_size, precision
        self.scores: dict[int, dict[tuple[int, int], float]] = {}
        self.seconds: dict[int, float] = {}
        self.pairs: dict[int, int] = {}

    def score(self, ranked: torch.Tensor, depth: int) -> torch.Tensor:
        """``(Q, N)`` reranker scores of the candidates ``ranked`` at ``depth``."""
        known = self.scores.setdefault(depth, {})
        keys = [(q, int(d)) for q, row in enumerate(ranked.tolist()) for d in row]
        todo = list(dict.fromkeys(k for k in keys if k not in known))
        if todo:
            texts = [(self.queries[q], self.corpus[d]) for q, d in todo]
            start = time.perf_counter()
            values = self.reranker.predict(texts, batch_size=self.batch_size, layer=depth,
                                           precision=self.precision, show_progress=len(todo) > 2000)
            self.seconds[depth] = self.seconds.get(depth, 0.0) + time.perf_counter() - start
            self.pairs[depth] = self.pairs.get(depth, 0) + len(todo)
            known.update(zip(todo, values.tolist(), strict=True))
        return torch.tensor([known[k] for k in keys]).reshape(ranked.shape)

    def seconds_per_pair(self, depth: int) -> float:
        return self.seconds[depth] / self.pairs[depth] if self.pairs.get(depth) else float("nan")


def rerank(ranked: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Each row's candidates by reranker score, best first; ties keep the retrieval order."""
    order = torch.argsort(-scores, dim=1, stable=True)
    return ranked.gather(1, order)


def pipeline_grid(encoder: Any, reranker: Any, data: Any, cells: Sequence[tuple[int, int]],
                  depths: Sequence[int], top_n: int = 20, batch_size: int = 32,
                  precision: str = "fp32", latency_queries: int = 64) -> pd.DataFrame:
    """Every (bi-encoder cell, reranker depth) pipeline on the retrieval ``data``.

    ``encoder``: a ``BiEncoder`` or an ``EncodeCache`` over one (the corpus then encodes
    once per notebook). ``cells``: ``(layer, dim)`` of the bi-encoder (an fp32 index); ``depths``: reranker depths
    (0 = no reranking); ``precision``: compute precision of encoding and reranking ("fp32",
    "bf16"). Columns: ``layer, dim, index, rerank_depth, top_n, ndcg@10, mrr@10, recall@10,
    encode_ms, search_ms, rerank_ms, latency_ms_per_query`` (the last four per query).
    """
    if top_n < 10:
        raise ValueError(f"top_n must be at least 10 (nDCG@10 reads 10 hits), got {top_n}")
    queries, docs = list(data.queries.values()), list(data.corpus.values())
    layers = sorted({layer for layer, _ in cells})
    q_emb = encoder.encode_layers(queries, layers, batch_size, precision)
    c_emb = encoder.encode_layers(docs, layers, batch_size, precision, show_progress=len(docs) > 1000)
    timed = encoder.encoder if isinstance(encoder, EncodeCache) else encoder  # time real encodes
    encode_ms = latency_per_depth(timed, queries[:latency_queries], layers, batch_size, precision)
    ranks, pairs = id_ranks(list(data.corpus)), PairScores(reranker, queries, docs, batch_size, precision)
    reranker.predict([(queries[0], docs[0])] * batch_size, batch_size=batch_size,
                     precision=precision)  # warm-up, untimed
    rows = []
    for layer, dim in cells:
        q, c = (truncate(e[layer], dim, True) for e in (q_emb, c_emb))
        ranked, search_s = retrieve(q, c, top_n, ranks)
        for depth in sorted(set(depths)):
            final = ranked if depth == 0 else rerank(ranked, pairs.score(ranked, depth))
            metrics = metrics_from_ranking(final, data, cutoffs=CUTOFFS).metrics
            rerank_ms = 0.0 if depth == 0 else pairs.seconds_per_pair(depth) * top_n * 1e3
            rows.append({"layer": layer, "dim": dim, "index": "fp32", "rerank_depth": depth,
                         "top_n": top_n, **{m: metrics[f"cosine_{m}"] for m in METRICS},
                         "encode_ms": encode_ms[layer] / 1e3, "search_ms": search_s * 1e3,
                         "rerank_ms": rerank_ms})
    frame = pd.DataFrame(rows)
    frame["latency_ms_per_query"] = frame[["encode_ms", "search_ms", "rerank_ms"]].sum(axis=1)
    return frame


def headline_metrics(pipelines: pd.DataFrame, cell: tuple[int, int], name: str) -> dict[str, float]:
    """The card's metrics of the first bi-encoder ``cell``: retrieval alone (depth 0) and with
    the reranker at each depth, as ``<name>-test-retrieval_ndcg@10`` / ``-rerank<k>_mrr@10``."""
    rows = pipelines[(pipelines["layer"] == cell[0]) & (pipelines["dim"] == cell[1])]
    out = {}
    for _, row in rows.sort_values("rerank_depth").iterrows():
        depth = int(row["rerank_depth"])
        stage = "retrieval" if depth == 0 else f"rerank{depth}"
        out.update({f"{name}-test-{stage}_{m}": float(row[m]) for m in ("ndcg@10", "mrr@10")})
    return out
