"""The layer x dimension grid: quality of every cut from ONE encode pass, with its measured cost.

Layer k pools ``hidden_states[k]`` and dim d keeps the first d dims, re-normalised (Matryoshka,
Kusupati et al. 2022; 2D Matryoshka, Li et al. 2024), so every (k, d) cell comes from a single
forward over the distinct texts. Cost columns: ``latency_ms_per_1k`` is *measured* by encoding a
sample with the model physically cut to k layers (once per depth); ``bytes_per_vector`` = 4 d
(the fp32 vectors returned). ``quality_retained`` = spearman_cosine / that of the grid's
deepest, widest cell (the full model with default layers and dims).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.evaluators.base import encode_pairs, pair_columns
from workbench.evaluators.correlation import Gold
from workbench.evaluators.similarity import SIMILARITY_FNS, compute
from workbench.fast import cuda_graphs
from workbench.models.bi_encoder import truncate
from workbench.models.layers import cut_blocks

BYTES_PER_VALUE = 4
MIN_DIM = 32


def default_dims(hidden_size: int, matryoshka_dims: Sequence[int] = (), min_dim: int = MIN_DIM
                 ) -> list[int]:
    """The hidden size, then powers of two below it down to ``min_dim``, plus ``matryoshka_dims``.

    384 -> [384, 256, 128, 64, 32]; 768 -> [768, 512, 256, 128, 64, 32].
    """
    dims = {hidden_size, *matryoshka_dims}
    power = 1 << (hidden_size - 1).bit_length() - 1 if hidden_size > 1 else 1
    while power >= min_dim:
        dims.add(power)
        power //= 2
    return sorted((d for d in dims if 1 <= d <= hidden_size), reverse=True)


@contextlib.contextmanager
def cut_layers(model: Any, k: int) -> Iterator[Any]:
    """Temporarily keep only the first ``k`` transformer blocks (and ``num_hidden_layers = k``).

    The model is physically smaller inside the block, so timing it measures a real cut model;
    the blocks and the config are restored on exit, even after an error.
    """
    model.check_cell(layer=k)
    with cut_blocks(model.transformer, k):
        yield model


def latency_per_depth(model: Any, texts: Sequence[str], layers: Sequence[int], batch_size: int = 64,
                    precision: str = "fp32") -> dict[int, float]:
    """Encode ``texts`` with the model cut to each depth k; ms per 1,000 texts, ``{k: ms}``.

    At each depth, one untimed batch first prepares the cut model (thread pools, allocator, the
    bf16 weights of an encoder without a fast path), so the timed pass measures only encoding;
    a fast-path encoder's prepared weights live per block and survive the cut. Through CUDA
    graphs (:mod:`workbench.fast.cuda_graphs`) the untimed pass is every text: each batch shape
    is captured before the timed pass.
    """
    texts = list(texts)
    # through CUDA graphs each batch shape is captured at its first use: warm with every shape
    warm = texts if cuda_graphs.enabled(getattr(model, "device", "cpu")) else texts[:batch_size]
    result = {}
    for k in layers:
        with cut_layers(model, k):
            model.encode_layers(warm, [k], batch_size, precision)  # warm, prepared
            start = time.perf_counter()
            model.encode_layers(texts, [k], batch_size, precision)
            result[k] = (time.perf_counter() - start) / len(texts) * 1e6
    return result


def latency_texts(sentences: Sequence[str], size: int, seed: int = 0) -> list[str]:
    """A fixed random sample of ``size`` distinct texts (same lengths mix as the data)."""
    unique = list(dict.fromkeys(sentences))
    if size >= len(unique):
        return unique
    rows = np.random.default_rng(seed).choice(len(unique), size=size, replace=False)
    return [unique[i] for i in sorted(rows)]


def _cell_rows(embs: dict[int, tuple[Any, Any]], scores: np.ndarray, dims: Sequence[int],
               normalize: bool, similarity_fns: Sequence[str]) -> list[dict[str, Any]]:
    rows, gold = [], Gold(scores)  # the gold scores ranked once for every cell
    for layer in sorted(embs):
        emb1, emb2 = embs[layer]
        for dim in dims:
            res = compute(truncate(emb1, dim, normalize), truncate(emb2, dim, normalize), gold,
                          similarity_fns=similarity_fns)
            rows.append({"layer": layer, "dim": dim, **res.metrics, "status": res.status,
                         "diagnosis": res.diagnosis})
    return rows


def grid(model: Any, dataset_or_pairs: Any, dims: Sequence[int] | None = None,
         layers: Sequence[int] | None = None, latency_sample: int = 256, precision: str = "fp32",
         measure_latency: bool = True, matryoshka_dims: Sequence[int] = (), batch_size: int = 64,
         similarity_fns: Sequence[str] = SIMILARITY_FNS) -> pd.DataFrame:
    """Every (layer, dim) cell's similarity metrics and cost, from one encode pass.

    Args:
        model: a ``BiEncoder`` (or a spec ``BiEncoder.from_pretrained`` takes).
        dataset_or_pairs: Dataset / DataFrame with two text columns and a score column, or
            ``(sentences1, sentences2, scores)``.
        dims: dimensions (default ``default_dims(hidden_size, matryoshka_dims)``).
        layers: depths 1..L (default all).
        latency_sample: texts timed per depth; measure_latency=False skips timing (NaN column).
        precision: "fp32" or "bf16" autocast for the encode pass and the timing.

    Returns a DataFrame, one row per cell (layer ascending, dim descending): ``layer, dim,
    spearman_cosine, pearson_cosine, ...`` (the ``similarity.compute`` keys), ``latency_ms_per_1k,
    bytes_per_vector, quality_retained, status, diagnosis``; ``attrs`` holds timings.
    """
    if isinstance(model, str | Path):
        from workbench.models.bi_encoder import BiEncoder

        model = BiEncoder.from_pretrained(model)
    s1, s2, scores = pair_columns(dataset_or_pairs)
    layers, dims = _cells(model, layers, dims, matryoshka_dims)
    start = time.perf_counter()
    embs = encode_pairs(model, s1, s2, layers, batch_size, precision)
    rows = _cell_rows(embs, scores, dims, model.normalize, similarity_fns)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    latency = (latency_per_depth(model, latency_texts([*s1, *s2], latency_sample), layers,
                                 batch_size, precision) if measure_latency else {})
    frame = _frame(rows, latency)
    frame.attrs.update({"grid_seconds": encode_s, "latency_seconds": time.perf_counter() - start,
                        "precision": precision, "pairs": len(s1), "latency_sample": latency_sample})
    return frame


def _cells(model: Any, layers: Sequence[int] | None, dims: Sequence[int] | None,
           matryoshka_dims: Sequence[int]) -> tuple[list[int], list[int]]:
    """Layers ascending and dims descending, each checked against the model."""
    layers = sorted(set(layers or range(1, model.num_layers + 1)))
    dims = sorted(set(dims or default_dims(model.hidden_size, matryoshka_dims)), reverse=True)
    for k in layers:
        model.check_cell(layer=k)
    for d in dims:
        model.check_cell(dim=d)
    return layers, dims


def _frame(rows: list[dict[str, Any]], latency: dict[int, float]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["latency_ms_per_1k"] = df["layer"].map(latency).astype(float)
    df["bytes_per_vector"] = df["dim"] * BYTES_PER_VALUE
    full = df[(df["layer"] == df["layer"].max()) & (df["dim"] == df["dim"].max())]
    reference = full["spearman_cosine"].iloc[0] if "spearman_cosine" in df else np.nan
    df["quality_retained"] = df.get("spearman_cosine", np.nan) / reference
    first = ["layer", "dim", "spearman_cosine", "pearson_cosine"]
    last = ["latency_ms_per_1k", "bytes_per_vector", "quality_retained", "status", "diagnosis"]
    middle = [c for c in df.columns if c not in first + last]
    return df.reindex(columns=first + middle + last)
