"""Exact search over a corpus index at one precision, optional rescoring, and its measured cost.

Scores: fp32 cosine; int8 the dot product of int8 codes (query quantized with the corpus
ranges); binary minus the Hamming distance of the sign bits (|a| + |b| - 2 a.b on 0/1 bits).
Rescoring (Shakir et al. 2024, as sentence-transformers' ``semantic_search_faiss``): take the top
k r by the quantized score, re-score them with the fp32 query against the stored codes
(dequantized int8, or the 0/1 bits), keep the best k. The corpus stays quantized, so the bytes
per vector do not change. Ranking ties go to the smaller corpus id (``retrieval.top_k``).
Latency: the whole query batch searched exactly with numpy/torch and, when installed, faiss flat
indexes (``IndexFlatIP``, ``IndexScalarQuantizer`` 8-bit direct, ``IndexBinaryFlat``); the faster
one is reported per query.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from workbench.evaluators import quantize as q
from workbench.evaluators.retrieval import sort_hits, top_k


@dataclass
class Index:
    """A corpus at one precision: codes, and the int8 ranges that made them."""

    precision: str
    dim: int
    codes: np.ndarray
    ranges: np.ndarray | None = None

    @classmethod
    def build(cls, corpus: Any, precision: str, calibration: Any | None = None) -> Index:
        """Quantize ``corpus`` (N, d); int8 ranges come from ``calibration`` (default: corpus)."""
        ranges = (q.calibration_ranges(corpus if calibration is None else calibration)
                  if precision == "int8" else None)
        values = q._numpy(corpus)
        return cls(precision, values.shape[1], q.quantize(values, precision, ranges), ranges)

    @property
    def nbytes(self) -> int:
        """Index size: the codes plus the int8 ranges (2 d float32)."""
        return int(self.codes.nbytes + (self.ranges.nbytes if self.ranges is not None else 0))

    def scores(self, queries: Any) -> torch.Tensor:
        """(Q, N) exact scores of fp32 ``queries`` at this precision (module formulas)."""
        values = q._numpy(queries)
        if self.precision == "fp32":
            a = torch.nn.functional.normalize(torch.from_numpy(values).float(), dim=1)
            b = torch.nn.functional.normalize(torch.from_numpy(self.codes), dim=1)
            return a @ b.T
        if self.precision == "int8":
            codes = q.quantize(values, "int8", self.ranges)
            return torch.from_numpy(codes.astype(np.float64) @ self.codes.astype(np.float64).T)
        a = torch.from_numpy(q.unpack_bits(q.quantize(values, "binary"), self.dim))
        b = torch.from_numpy(q.unpack_bits(self.codes, self.dim))
        return -(a.sum(1, keepdim=True) + b.sum(1) - 2 * (a @ b.T))

    def rescore(self, queries: Any, candidates: torch.Tensor) -> torch.Tensor:
        """(Q, m) float64 scores of the fp32 queries against candidate rows' stored codes."""
        stored = self.codes[candidates.numpy()]
        stored = (q.dequantize_int8(stored, self.ranges) if self.precision == "int8"
                  else q.unpack_bits(stored, self.dim).astype(np.float64))
        return torch.from_numpy(np.einsum("ij,ikj->ik", q._numpy(queries).astype(np.float64), stored))


def search(index: Index, queries: Any, k: int, ranks: torch.Tensor, rescore: int = 0) -> torch.Tensor:
    """(Q, k) ranked corpus rows; ``rescore`` = r > 0 re-scores the top k r with the fp32 query."""
    scores = index.scores(queries)
    if not rescore or index.precision == "fp32":
        return top_k(scores, k, ranks)
    candidates = top_k(scores, k * rescore, ranks)
    return sort_hits(index.rescore(queries, candidates), candidates, ranks)[:, :k]


# ---- measured cost ------------------------------------------------------------------------
def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _numpy_searcher(index: Index, k: int):
    """A function searching float32 queries with numpy/torch (the fast path, not the exact one)."""
    if index.precision == "fp32":
        corpus = torch.from_numpy(index.codes)
        return lambda x: torch.topk(torch.from_numpy(x) @ corpus.T, k, dim=1)
    if index.precision == "int8":
        corpus = torch.from_numpy(index.codes.astype(np.float32))
        return lambda x: torch.topk(torch.from_numpy(q.quantize(x, "int8", index.ranges)
                                                     .astype(np.float32)) @ corpus.T, k, dim=1)
    words = _as_words(index.codes)
    return lambda x: _hamming_topk(_as_words(q.quantize(x, "binary")), words, k)


def _as_words(packed: np.ndarray) -> np.ndarray:
    pad = (-packed.shape[1]) % 8
    return np.pad(packed, ((0, 0), (0, pad))).view(np.uint64)


def _hamming_topk(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    dist = np.bitwise_count(a[:, None, :] ^ b[None, :, :]).sum(axis=2, dtype=np.int32)
    return np.argpartition(dist, k - 1, axis=1)[:, :k]


def _faiss_searcher(index: Index, k: int):
    faiss = _faiss()
    if faiss is None:
        return None
    if index.precision == "fp32":
        flat = faiss.IndexFlatIP(index.dim)
        flat.add(np.ascontiguousarray(index.codes))
        return lambda x: flat.search(np.ascontiguousarray(x, dtype=np.float32), k)
    if index.precision == "int8":
        flat = faiss.IndexScalarQuantizer(index.dim, faiss.ScalarQuantizer.QT_8bit_direct_signed,
                                          faiss.METRIC_INNER_PRODUCT)
        flat.add(index.codes.astype(np.float32))  # direct codes: the stored bytes are the int8 codes
        return lambda x: flat.search(q.quantize(x, "int8", index.ranges).astype(np.float32), k)
    flat = faiss.IndexBinaryFlat(8 * index.codes.shape[1])  # padding bits are 0 on both sides
    flat.add(index.codes)
    return lambda x: flat.search(q.quantize(x, "binary"), k)


def _best_time(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def search_latency(index: Index, queries: Any, k: int = 100, rescore: int = 0,
                   repeats: int = 3) -> tuple[float, str]:
    """(ms per query, backend) of the faster exact search of the whole query batch.

    With ``rescore`` = r, the first stage fetches k r candidates and the timing includes
    re-scoring them with the fp32 queries.
    """
    values = np.ascontiguousarray(q._numpy(queries), dtype=np.float32)
    depth = min(k * (rescore or 1), index.codes.shape[0])
    results = {}
    for backend, make in (("numpy", _numpy_searcher), ("faiss", _faiss_searcher)):
        first = make(index, depth)
        if first is None:
            continue

        def run(first=first, backend=backend):
            found = first(values)
            if rescore and index.precision != "fp32":
                rows = found[1] if backend == "faiss" else found
                rows = rows.indices if isinstance(rows, torch.return_types.topk) else rows
                index.rescore(values, torch.as_tensor(np.asarray(rows)))

        results[backend] = _best_time(run, repeats) / len(values) * 1e3
    backend = min(results, key=results.get)
    return results[backend], backend
