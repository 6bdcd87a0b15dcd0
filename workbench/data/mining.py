"""Hard-negative mining with a bi-encoder cell: (query, positive) pairs -> reranker training data.

For each query, the corpus documents the cell scores highest (cosine) that are not its positives
become candidates; candidates ranked ``range_min..range_max`` survive the filters

    keep d  iff  s(q, d) <= min_p s(q, p) - absolute_margin
             and s(q, d) <= min_p s(q, p) - |min_p s(q, p)| * relative_margin
             and min_score <= s(q, d) <= max_score

and ``num_negatives`` are taken from the top or sampled at random (``sampling``). Same rules and
output layouts as sentence-transformers' ``util.mine_hard_negatives`` (triplet, n-tuple,
labeled-pair); the selection (:func:`mine_indices`) runs on embeddings, so a test compares it
with sentence-transformers on identical vectors. Moreno et al. 2024, NV-Retriever
(https://arxiv.org/abs/2407.15831) recommends ``relative_margin=0.05``, ``sampling="top"``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import datasets
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

FORMATS = ("triplet", "n-tuple", "labeled-pair")
NEG_INF = float("-inf")


@dataclass
class Mined:
    """Per unique query: negative corpus indices ``(Q, n)`` (-1: none found) and their scores,
    the positives' corpus indices and scores, and how many candidates each filter removed."""

    indices: torch.Tensor
    scores: torch.Tensor
    positives: list[list[int]]
    positive_scores: list[torch.Tensor]
    skipped: dict[str, int] = field(default_factory=dict)


def default_range_max(range_min: int, num_negatives: int, max_positives: int,
                      filtering: bool) -> int:
    """sentence-transformers' default: 10 candidates per negative when filters may drop some."""
    return range_min + num_negatives * (10 if filtering else 1) + max_positives


def top_candidates(query: torch.Tensor, corpus: torch.Tensor, k: int, chunk: int = 4096,
                   show_progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` highest dot products per query, ``(Q, k)`` scores and indices, in query chunks
    (at most ``chunk x len(corpus)`` scores held at once); padded with -inf / -1 past the corpus."""
    take = min(k, corpus.shape[0])
    scores, indices = [], []
    for start in tqdm(range(0, query.shape[0], chunk), desc="top candidates",
                      disable=not show_progress, leave=False):
        top = torch.topk(query[start:start + chunk] @ corpus.T, k=take, dim=1)
        scores.append(top.values)
        indices.append(top.indices)
    scores, indices = torch.cat(scores), torch.cat(indices)
    if take < k:
        scores = torch.cat([scores, scores.new_full((scores.shape[0], k - take), NEG_INF)], 1)
        indices = torch.cat([indices, indices.new_full((indices.shape[0], k - take), -1)], 1)
    return scores, indices


def _drop(scores: torch.Tensor, remove: torch.Tensor, skipped: dict[str, int], name: str) -> None:
    remove &= scores > NEG_INF
    if int(remove.sum()):
        skipped[name] = int(remove.sum())
    scores[remove] = NEG_INF


def mine_indices(query: torch.Tensor, corpus: torch.Tensor, positives: Sequence[Sequence[int]],
                 num_negatives: int = 3, range_min: int = 0, range_max: int | None = None,
                 absolute_margin: float | None = None, relative_margin: float | None = None,
                 max_score: float | None = None, min_score: float | None = None,
                 sampling: Literal["top", "random"] = "top", rng: Any = None,
                 chunk: int = 4096, show_progress: bool = True) -> Mined:
    """Select negatives for each query row from L2-normalised ``query`` and ``corpus`` embeddings.

    ``positives[i]``: corpus indices of query ``i``'s positives (excluded; their lowest score sets
    the margins). ``rng``: anything with ``sample(population, k)``, default Python's ``random``.
    """
    check_mining_args(num_negatives, range_min, range_max, sampling)
    widest = max(len(p) for p in positives)
    if range_max is None:
        filtering = any(v is not None for v in (absolute_margin, relative_margin, max_score))
        range_max = default_range_max(range_min, num_negatives, widest, filtering)
    check_mining_args(num_negatives, range_min, range_max, sampling)
    scores, indices = top_candidates(query, corpus, range_max + widest, chunk, show_progress)
    pos = torch.full((len(positives), widest), -1, dtype=indices.dtype)
    for i, p in enumerate(positives):
        pos[i, :len(p)] = torch.as_tensor(list(p), dtype=indices.dtype)
    pos_scores = (query[:, None, :] * corpus[pos.clamp(min=0)]).sum(-1)
    lowest = pos_scores.masked_fill(pos < 0, float("inf")).min(1).values[:, None]
    scores[(indices[:, :, None] == pos[:, None, :]).any(-1) | (indices < 0)] = NEG_INF
    skipped: dict[str, int] = {}
    if absolute_margin is not None:
        _drop(scores, scores + absolute_margin > lowest, skipped, "absolute_margin")
    if relative_margin is not None:
        _drop(scores, scores > lowest - lowest.abs() * relative_margin, skipped, "relative_margin")
    if max_score is not None:
        _drop(scores, scores > max_score, skipped, "max_score")
    if min_score is not None:
        _drop(scores, scores < min_score, skipped, "min_score")
    top, local = torch.topk(scores, k=range_max, dim=1)
    top, chosen = top[:, range_min:], indices.gather(1, local)[:, range_min:]
    if sampling == "random":
        top, chosen = _sample(top, chosen, num_negatives, rng or random)
    top, chosen = top[:, :num_negatives], chosen[:, :num_negatives]
    chosen = chosen.masked_fill(top == NEG_INF, -1)
    return Mined(chosen, top, [list(p) for p in positives],
                 [pos_scores[i, :len(p)] for i, p in enumerate(positives)], skipped)


def _sample(top: torch.Tensor, chosen: torch.Tensor, n: int, rng: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` of each row's finite candidates at random (as sentence-transformers draws), re-sorted."""
    options = (top.shape[1] - top.isinf().sum(1)).clamp(min=n).tolist()
    picks = torch.tensor([rng.sample(range(o), k=n) for o in options], dtype=torch.long)
    top, chosen = top.gather(1, picks), chosen.gather(1, picks)
    top, order = top.sort(dim=1, descending=True)
    return top, chosen.gather(1, order)


def check_mining_args(num_negatives: int, range_min: int, range_max: int | None,
                      sampling: str) -> None:
    """Clear errors naming the parameter, before any encoding."""
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be at least 1, got {num_negatives}")
    if range_min < 0:
        raise ValueError(f"range_min must be >= 0, got {range_min}")
    if range_max is not None and num_negatives > range_max - range_min:
        raise ValueError(f"cannot mine {num_negatives} negatives from ranks {range_min}..{range_max}:"
                         " raise range_max or lower range_min / num_negatives")
    if sampling not in ("top", "random"):
        raise ValueError(f"sampling must be 'top' or 'random', got {sampling!r}")


def group_pairs(queries: Sequence[str], positives: Sequence[str],
                corpus: Sequence[str] | None = None) -> tuple[list[str], list[str], list[list[int]]]:
    """Unique queries (first-seen order), the de-duplicated corpus (``corpus`` + positives) and
    each query's positive corpus indices, as sentence-transformers builds them."""
    docs = list(dict.fromkeys([*(corpus if corpus is not None else []), *positives]))
    where = {text: i for i, text in enumerate(docs)}
    unique = list(dict.fromkeys(queries))
    slot = {q: i for i, q in enumerate(unique)}
    grouped: list[list[int]] = [[] for _ in unique]
    for query, positive in zip(queries, positives, strict=True):
        if where[positive] not in grouped[slot[query]]:
            grouped[slot[query]].append(where[positive])
    return unique, docs, grouped


def to_dataset(mined: Mined, queries: Sequence[str], corpus: Sequence[str],
               output_format: str = "triplet",
               columns: tuple[str, str] = ("anchor", "positive")) -> datasets.Dataset:
    """Rows in sentence-transformers' layouts: ``triplet`` (one row per query, positive and
    found negative), ``n-tuple`` (queries with all negatives found: ``negative_1..n``),
    ``labeled-pair`` (``anchor, positive, label``: each positive 1, each negative 0)."""
    if output_format not in FORMATS:
        raise ValueError(f"output_format must be one of {FORMATS}, got {output_format!r}")
    anchor, positive = columns
    negs = [[i for i in row if i >= 0] for row in mined.indices.tolist()]
    if output_format == "labeled-pair":
        rows = [(queries[q], corpus[d], label) for q, pos in enumerate(mined.positives)
                for d, label in [*((p, 1) for p in pos), *((n, 0) for n in negs[q])]]
        return datasets.Dataset.from_dict({anchor: [r[0] for r in rows],
                                           positive: [r[1] for r in rows],
                                           "label": [r[2] for r in rows]})
    if output_format == "triplet":
        rows = [(queries[q], corpus[p], corpus[n]) for q, pos in enumerate(mined.positives)
                for p in pos for n in negs[q]]
        return datasets.Dataset.from_dict({anchor: [r[0] for r in rows],
                                           positive: [r[1] for r in rows],
                                           "negative": [r[2] for r in rows]})
    width = mined.indices.shape[1]
    full = [(q, p) for q, pos in enumerate(mined.positives) for p in pos if len(negs[q]) == width]
    data = {anchor: [queries[q] for q, _ in full], positive: [corpus[p] for _, p in full]}
    for j in range(width):
        data[f"negative_{j + 1}"] = [corpus[negs[q][j]] for q, _ in full]
    return datasets.Dataset.from_dict(data)


def summary(mined: Mined) -> dict[str, float]:
    """Counts and means of positive and negative scores, and what each filter skipped."""
    found = mined.scores[mined.indices >= 0]
    positive = torch.cat(mined.positive_scores) if mined.positive_scores else torch.empty(0)
    return {"queries": len(mined.positives), "positives": int(positive.numel()),
            "negatives": int(found.numel()),
            "missing": int((mined.indices < 0).sum()),
            "positive_mean": float(positive.mean()) if positive.numel() else float("nan"),
            "negative_mean": float(found.mean()) if found.numel() else float("nan"),
            **{f"skipped_{k}": v for k, v in mined.skipped.items()}}


def qrels_pairs(queries: dict[str, str], corpus: dict[str, str],
                relevant: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(query text, relevant document text) for every judged relevant document, in qrels order.

    ``relevant[query_id]``: the relevant document ids (a set, as ``RetrievalData.relevant``) or
    ``{doc_id: relevance}`` (kept when > 0). An id missing from ``queries`` / ``corpus`` is an
    error naming it.
    """
    texts, positives = [], []
    for qid, docs in relevant.items():
        if qid not in queries:
            raise KeyError(f"qrels name query id {qid!r}, which is not among the {len(queries)} queries")
        ids = [d for d, r in docs.items() if r > 0] if isinstance(docs, dict) else sorted(docs)
        for did in ids:
            if did not in corpus:
                raise KeyError(f"qrels of query {qid!r} name document id {did!r}, not in the corpus")
            texts.append(queries[qid])
            positives.append(corpus[did])
    return texts, positives


def mine_hard_negatives(queries: Sequence[str], positives: Sequence[str], encoder: Any,
                        corpus: Sequence[str] | None = None, layer: int | None = None,
                        dim: int | None = None, precision: str = "fp32", batch_size: int = 64,
                        output_format: str = "triplet", columns: tuple[str, str] = ("anchor", "positive"),
                        show_progress: bool = True, **selection: Any) -> tuple[datasets.Dataset, dict]:
    """Mine with the bi-encoder cell ``(layer, dim)`` encoded at ``precision``.

    ``queries[i]`` and ``positives[i]`` form a pair (a query may repeat: all its positives count);
    ``corpus``: extra candidate documents (default: the positives). ``selection``: the keyword
    arguments of :func:`mine_indices`. Returns the dataset (``output_format``) and :func:`summary`.
    """
    if output_format not in FORMATS:
        raise ValueError(f"output_format must be one of {FORMATS}, got {output_format!r}")
    if len(queries) != len(positives) or not queries:
        raise ValueError(f"need as many queries as positives (at least one), got {len(queries)} "
                         f"and {len(positives)}")
    check_mining_args(selection.get("num_negatives", 3), selection.get("range_min", 0),
                      selection.get("range_max"), selection.get("sampling", "top"))
    unique, docs, grouped = group_pairs(queries, positives, corpus)
    cell = {"layer": layer, "dim": dim, "precision": precision, "batch_size": batch_size,
            "show_progress": show_progress}
    doc_emb = F.normalize(encoder.encode(docs, **cell).float(), dim=-1)
    query_emb = F.normalize(encoder.encode(unique, **cell).float(), dim=-1)
    mined = mine_indices(query_emb, doc_emb, grouped, show_progress=show_progress, **selection)
    return to_dataset(mined, unique, docs, output_format, columns), summary(mined)
