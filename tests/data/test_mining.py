"""Hard-negative mining: the same datasets as sentence-transformers 6.2's mine_hard_negatives on
identical embeddings (a stub model serves them to it), and properties of the selection."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from sentence_transformers.util import cos_sim, mine_hard_negatives, pairwise_cos_sim

from workbench.data.mining import group_pairs, mine_indices, qrels_pairs, to_dataset
from workbench.data.mining import mine_hard_negatives as ours_mine


class FixedEmbeddings:
    """What mine_hard_negatives needs of a SentenceTransformer, serving fixed vectors."""

    device = torch.device("cpu")

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def encode_document(self, texts, **_) -> np.ndarray:
        return np.stack([self.table[t] for t in texts])

    encode_query = encode_document

    def similarity(self, a, b):
        return cos_sim(a, b)

    def similarity_pairwise(self, a, b):
        return pairwise_cos_sim(a, b)

    def encode(self, texts, **_) -> torch.Tensor:  # the workbench side: a BiEncoder cell
        return torch.from_numpy(self.encode_document(texts))


@pytest.fixture(scope="module")
def world():
    """40 queries (8 with two positives), 120 extra documents, random unit vectors."""
    gen = torch.Generator().manual_seed(0)
    queries = [f"q{i}" for i in range(40)]
    docs = [f"d{i}" for i in range(120)]
    pairs = [(q, f"d{i}") for i, q in enumerate(queries)] + [(f"q{i}", f"d{i + 50}") for i in range(8)]
    texts = queries + docs
    vectors = F.normalize(torch.randn(len(texts), 16, generator=gen), dim=-1)
    # positives close to their queries, so margins bite
    for q, d in pairs:
        vectors[texts.index(d)] = F.normalize(vectors[texts.index(q)] + 0.9 * vectors[texts.index(d)], dim=-1)
    table = {t: v.numpy() for t, v in zip(texts, vectors, strict=True)}
    return FixedEmbeddings(table), [p[0] for p in pairs], [p[1] for p in pairs], docs


CASES = [
    dict(num_negatives=3),
    dict(num_negatives=4, range_min=2, range_max=30, relative_margin=0.05),
    dict(num_negatives=2, absolute_margin=0.1, max_score=0.9, min_score=-0.5),
    dict(num_negatives=5, range_max=12, sampling="random", relative_margin=0.0),
]


@pytest.mark.parametrize("output_format", ["triplet", "n-tuple", "labeled-pair"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_equals_sentence_transformers_on_the_same_embeddings(world, case, output_format):
    model, queries, positives, docs = world
    theirs_args = {("sampling_strategy" if k == "sampling" else k): v for k, v in case.items()}
    random.seed(7)
    theirs = mine_hard_negatives(Dataset.from_dict({"anchor": queries, "positive": positives}),
                                 model, corpus=docs, output_format=output_format, verbose=False,
                                 **theirs_args)
    random.seed(7)
    ours, stats = ours_mine(queries, positives, model, corpus=docs, output_format=output_format,
                            show_progress=False, **case)
    assert ours.column_names == theirs.column_names
    assert ours.to_dict() == theirs.to_dict()
    assert len(ours) > 0 and stats["queries"] == 40 and stats["positives"] == 48


def test_selection_properties(world):
    model, queries, positives, docs = world
    unique, corpus, grouped = group_pairs(queries, positives, docs)
    q = model.encode(unique)
    c = model.encode(corpus)
    mined = mine_indices(q, c, grouped, num_negatives=4, range_min=1, range_max=20,
                         absolute_margin=0.05, show_progress=False)
    sims = q @ c.T
    for i, row in enumerate(mined.indices.tolist()):
        lowest = min(float(sims[i, p]) for p in grouped[i])
        rank = sims[i].argsort(descending=True).tolist()
        for j in (j for j in row if j >= 0):
            assert j not in grouped[i]  # never a positive
            assert float(sims[i, j]) <= lowest - 0.05 + 1e-6  # the margin holds
            assert 1 <= rank.index(j) < 20 + len(grouped[i])  # inside the window
        found = [s for s, j in zip(mined.scores[i].tolist(), row, strict=True) if j >= 0]
        assert found == sorted(found, reverse=True)
    assert mined.skipped.get("absolute_margin", 0) > 0
    pairs = to_dataset(mined, unique, corpus, "labeled-pair")
    assert set(pairs["label"]) == {0, 1} and sum(pairs["label"]) == 48


def test_qrels_pairs_and_errors():
    queries, corpus = {"1": "what is x", "2": "why y"}, {"a": "x is x", "b": "y because", "c": "z"}
    texts, docs = qrels_pairs(queries, corpus, {"1": {"a": 1, "c": 0}, "2": {"b": 2}})
    assert texts == ["what is x", "why y"] and docs == ["x is x", "y because"]
    with pytest.raises(KeyError, match="'9'"):
        qrels_pairs(queries, corpus, {"9": {"a": 1}})
    with pytest.raises(KeyError, match="'zz'"):
        qrels_pairs(queries, corpus, {"1": {"zz": 1}})
    model = FixedEmbeddings({t: np.ones(4, dtype=np.float32) for t in [*queries.values(), *corpus.values()]})
    with pytest.raises(ValueError, match="num_negatives"):
        ours_mine(texts, docs, model, num_negatives=0)
    with pytest.raises(ValueError, match="output_format"):
        ours_mine(texts, docs, model, output_format="labeled-list")
    with pytest.raises(ValueError, match="range_max"):
        ours_mine(texts, docs, model, num_negatives=5, range_max=3)


def test_qrels_pairs_take_relevant_sets():
    queries, corpus = {"1": "what is x"}, {"a": "x is x", "b": "also x"}
    assert qrels_pairs(queries, corpus, {"1": {"b", "a"}}) == (["what is x"] * 2, ["x is x", "also x"])
