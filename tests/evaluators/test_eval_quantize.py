"""Precisions: codes equal sentence-transformers' ``quantize_embeddings``; search and rescoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers.util import quantize_embeddings

from workbench.evaluators import quantize as q
from workbench.evaluators.retrieval import id_ranks
from workbench.evaluators.search import (
    Index,
    _faiss_searcher,
    _numpy_searcher,
    search,
    search_latency,
)


@pytest.fixture()
def emb():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 20)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_int8_codes_equal_quantize_embeddings(emb):
    calibration, queries = emb[:150], emb[150:]
    ranges = q.calibration_ranges(calibration)
    ours = q.quantize(queries, "int8", ranges)
    assert ours.dtype == np.int8
    np.testing.assert_array_equal(ours, quantize_embeddings(queries, "int8", ranges=ranges))
    np.testing.assert_array_equal(
        ours, quantize_embeddings(queries, "int8", calibration_embeddings=calibration))
    assert ours.min() == -128  # values outside the calibration range are clipped, not wrapped


def test_binary_codes_equal_quantize_embeddings(emb):
    ours = q.quantize(emb, "binary")
    np.testing.assert_array_equal(ours, quantize_embeddings(emb, "ubinary"))
    np.testing.assert_array_equal(ours.astype(np.int16) - 128, quantize_embeddings(emb, "binary"))
    assert ours.shape == (200, 3)  # 20 bits -> 3 bytes


@pytest.mark.parametrize(("dim", "expected"), [(384, (1536, 384, 48)), (20, (80, 20, 3))])
def test_bytes_per_vector(dim, expected):
    assert tuple(q.bytes_per_vector(dim, p) for p in ("fp32", "int8", "binary")) == expected
    codes = [q.quantize(np.ones((1, dim)), p, np.array([[0.0] * dim, [2.0] * dim]))
             for p in ("fp32", "int8", "binary")]
    assert tuple(c.nbytes for c in codes) == expected


def test_scores_are_code_dot_products_and_hamming(emb):
    corpus, queries = emb[:150], emb[150:]
    int8 = Index.build(corpus, "int8")
    codes_q = quantize_embeddings(queries, "int8", ranges=int8.ranges).astype(np.int64)
    codes_c = quantize_embeddings(corpus, "int8", ranges=int8.ranges).astype(np.int64)
    np.testing.assert_array_equal(int8.scores(queries).numpy(), codes_q @ codes_c.T)
    binary = Index.build(corpus, "binary")
    bits_q, bits_c = queries > 0, corpus > 0
    hamming = (bits_q[:, None, :] != bits_c[None, :, :]).sum(axis=2)
    np.testing.assert_array_equal(binary.scores(queries).numpy(), -hamming)
    assert binary.nbytes == 150 * 3 and int8.nbytes == 150 * 20 + 2 * 20 * 4


@pytest.mark.parametrize("precision", ["int8", "binary"])
def test_rescoring_everything_equals_the_fp32_query_ranking(emb, precision):
    corpus, queries = emb[:150], emb[150:]
    index = Index.build(corpus, precision)
    ranks = id_ranks([f"{i:04d}" for i in range(150)])
    full = search(index, queries, 10, ranks, rescore=15)  # 10 x 15 candidates = whole corpus
    stored = (q.dequantize_int8(index.codes, index.ranges) if precision == "int8"
              else q.unpack_bits(index.codes, 20))
    brute = torch.from_numpy(queries.astype(np.float64) @ stored.astype(np.float64).T)
    assert torch.equal(full, torch.topk(brute, 10, dim=1).indices)
    plain = search(index, queries, 10, ranks)
    exact = search(Index.build(corpus, "fp32"), queries, 10, ranks)
    overlap = [np.mean([len(set(x) & set(y)) for x, y in zip(a.tolist(), exact.tolist(), strict=True)])
               for a in (full, plain)]
    assert overlap[0] >= overlap[1]  # rescoring gets closer to the fp32 ranking


@pytest.mark.parametrize("precision", ["fp32", "int8", "binary"])
def test_fast_searchers_find_the_exact_neighbours(emb, precision):
    corpus, queries = emb[:150], emb[150:]
    index = Index.build(corpus, precision, calibration=corpus)
    exact = index.scores(queries)
    kth = torch.topk(exact, 5, dim=1).values[:, -1:]
    for make in (_numpy_searcher, _faiss_searcher):  # faiss-cpu is a dependency: both exist
        found = make(index, 5)(queries.copy())
        rows = found[1] if isinstance(found, tuple) else getattr(found, "indices", found)
        got = exact.gather(1, torch.as_tensor(np.asarray(rows), dtype=torch.long))
        assert bool((got >= kth).all())  # every returned row scores at least the exact 5th best
    ms, backend = search_latency(index, queries, k=5, rescore=2 if precision != "fp32" else 0,
                                 repeats=1)
    assert ms > 0 and backend in ("numpy", "faiss")
