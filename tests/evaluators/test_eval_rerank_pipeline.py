"""Retrieve-then-rerank: depth 0 is retrieval alone, reranking reorders only the top N with the
reranker's scores at that depth, every pair is scored once per depth, and the picker picks what
a by-hand reading of the table picks."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from workbench.data.retrieval import RetrievalData
from workbench.evaluators.pareto import cheapest_pipeline
from workbench.evaluators.rerank_pipeline import PairScores, pipeline_grid, rerank
from workbench.evaluators.retrieval import compute
from workbench.models.cross_encoder import CrossEncoder
from workbench.models.specs import tiny_cross_encoder

WORDS = ["man", "woman", "child", "dog", "cat", "car", "horse", "book", "guitar", "park", "street", "water", "beach", "food", "ball"]


@pytest.fixture(scope="module")
def data() -> RetrievalData:
    corpus = {f"d{i}": " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(4 + i % 5))
              for i in range(40)}
    queries = {f"q{i}": " ".join(WORDS[(i * 3 + j) % len(WORDS)] for j in range(3)) for i in range(6)}
    relevant = {f"q{i}": {f"d{(i * 5) % 40}", f"d{(i * 5 + 1) % 40}"} for i in range(6)}
    return RetrievalData("toy", "test", queries, corpus, relevant)


@pytest.fixture(scope="module")
def reranker(tmp_path_factory) -> CrossEncoder:
    return CrossEncoder.from_pretrained(tiny_cross_encoder(tmp_path_factory.mktemp("ce")))


def test_grid_rows_and_retrieval_alone(tiny_encoder, reranker, data):
    frame = pipeline_grid(tiny_encoder, reranker, data, cells=[(3, 32), (1, 16)], depths=[0, 2],
                          top_n=10, batch_size=64, latency_queries=6)
    assert len(frame) == 4 and set(frame["rerank_depth"]) == {0, 2}
    alone = frame[(frame["layer"] == 3) & (frame["rerank_depth"] == 0)].iloc[0]
    q = tiny_encoder.encode(list(data.queries.values()))
    c = tiny_encoder.encode(list(data.corpus.values()))
    reference = compute(q, c, data).metrics
    assert alone["ndcg@10"] == pytest.approx(reference["cosine_ndcg@10"], abs=1e-6)
    assert alone["mrr@10"] == pytest.approx(reference["cosine_mrr@10"], abs=1e-6)
    assert (frame["latency_ms_per_query"] > 0).all()
    reranked = frame[frame["rerank_depth"] > 0]
    assert (reranked["rerank_ms"] > 0).all() and (frame[frame["rerank_depth"] == 0]["rerank_ms"] == 0).all()
    # reranking the top 10 cannot change recall@10, only the order
    for _, rows in frame.groupby(["layer", "dim"]):
        assert rows["recall@10"].nunique() == 1


def test_rerank_orders_by_score_at_that_depth(reranker, data):
    queries, docs = list(data.queries.values()), list(data.corpus.values())
    ranked = torch.tensor([[3, 1, 2, 0], [5, 6, 7, 8]])
    pairs = PairScores(reranker, queries, docs, batch_size=4)
    scores = pairs.score(ranked, depth=2)
    expected = reranker.predict([(queries[0], docs[d]) for d in (3, 1, 2, 0)], layer=2)
    torch.testing.assert_close(scores[0], expected)
    order = rerank(ranked, scores)
    assert [scores[0, (ranked[0] == d).nonzero().item()] for d in order[0]] == \
        sorted(scores[0].tolist(), reverse=True)
    pairs.score(ranked[:1], depth=2)  # already known: nothing scored again
    assert pairs.pairs[2] == 8
    tied = rerank(ranked, torch.zeros(2, 4))
    assert torch.equal(tied, ranked)  # ties keep the retrieval order


def test_cheapest_pipeline_is_what_a_reader_picks():
    frame = pd.DataFrame({"layer": [6, 6, 3, 3, 1], "dim": [384] * 5, "rerank_depth": [0, 6, 0, 3, 1],
                          "ndcg@10": [0.64, 0.70, 0.60, 0.68, 0.50],
                          "latency_ms_per_query": [5.0, 90.0, 3.0, 40.0, 10.0]})
    assert cheapest_pipeline(frame, 0.05)["latency_ms_per_query"] == 40.0  # >= 0.665
    assert cheapest_pipeline(frame, 0.10)["latency_ms_per_query"] == 5.0  # >= 0.63
    assert cheapest_pipeline(frame, 0.0)["ndcg@10"] == 0.70
