"""Retrieval metrics against sentence-transformers 6.2 ``InformationRetrievalEvaluator``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
from sentence_transformers.util import cos_sim

from workbench.data.retrieval import RetrievalData
from workbench.evaluators.retrieval import RetrievalEvaluator, compute, top_k


class _Fixed:
    """Stands in for a SentenceTransformer: returns fixed query embeddings."""

    def __init__(self, queries: torch.Tensor) -> None:
        self.queries = queries
        self.similarity_fn_name = "cosine"

    def encode_query(self, sentences, **kwargs):
        return self.queries


def _reference(data: RetrievalData, q: torch.Tensor, c: torch.Tensor, chunk: int = 50_000) -> dict:
    ev = InformationRetrievalEvaluator(
        data.queries, data.corpus, data.relevant, corpus_chunk_size=chunk,
        precision_recall_at_k=[1, 3, 5, 10, 100], score_functions={"cosine": cos_sim})
    scores = ev.compute_all_metrics(_Fixed(q), corpus_embeddings=c)["cosine"]
    return {f"cosine_{m.replace('@k', '@' + str(k))}": v for m, d in scores.items() for k, v in d.items()}


def _random_task(seed: int, n_queries: int = 40, n_docs: int = 300, dim: int = 16,
                 levels: int | None = None) -> tuple[RetrievalData, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    q, c = rng.normal(size=(n_queries, dim)), rng.normal(size=(n_docs, dim))
    if levels:  # coarse values: many exact score ties, the tie-break must match
        q, c = np.round(q * levels) / levels, np.round(c * levels) / levels
    doc_ids = [f"d{rng.integers(10**6)}-{i}" for i in range(n_docs)]
    relevant = {f"q{i}": {doc_ids[j] for j in rng.choice(n_docs, rng.integers(1, 6), replace=False)}
                for i in range(n_queries)}
    data = RetrievalData("rand", "test", {f"q{i}": f"query {i}" for i in range(n_queries)},
                         {d: f"doc {d}" for d in doc_ids}, relevant)
    return data, torch.tensor(q, dtype=torch.float32), torch.tensor(c, dtype=torch.float32)


@pytest.mark.parametrize(("seed", "levels"), [(0, None), (1, None), (2, 1), (3, 2)])
def test_metrics_equal_information_retrieval_evaluator(seed, levels):
    data, q, c = _random_task(seed, levels=levels)
    ours = compute(q, c, data).metrics
    ref = _reference(data, q, c, chunk=70)  # chunked corpus: the reference merges per chunk
    assert set(ref) <= set(ours)
    for key, value in ref.items():
        assert abs(ours[key] - value) < 1e-6, (key, ours[key], value)
    assert ours["cosine_ndcg@10"] > 0  # random data still finds some relevant documents


def test_ties_broken_by_corpus_id():
    scores = torch.tensor([[1.0, 2.0, 2.0, 2.0, 0.0]])
    ranks = torch.tensor([4, 3, 0, 2, 1])  # ids sort as: col2 < col4 < col3 < col1 < col0
    assert top_k(scores, 2, ranks).tolist() == [[2, 3]]
    assert top_k(scores, 5, ranks).tolist() == [[2, 3, 1, 0, 4]]


def test_evaluator_encodes_and_scores_cells(tiny_encoder):
    data, _, _ = _random_task(4, n_queries=6, n_docs=20)
    ev = RetrievalEvaluator(data, name="rand")
    full = ev(tiny_encoder)
    cut = ev(tiny_encoder, layer=1, dim=8)
    assert full.primary_metric == "rand_cosine_ndcg@10" and 0 <= full.primary <= 1
    q = tiny_encoder.encode(list(data.queries.values()), layer=1, dim=8)
    c = tiny_encoder.encode(list(data.corpus.values()), layer=1, dim=8)
    assert cut.metrics == compute(q, c, data, "rand").metrics
