"""Per-layer quality of a cross-encoder reranker: the model cut to its first k blocks.

A cross-encoder has no embedding to truncate, so its "grid" has one column: ``dim`` is the hidden
size and ``bytes_per_vector`` is NaN (nothing is stored per text). Layer k keeps the first k
transformer blocks and feeds the k-th hidden state to the trained head, so cut-down rerankers are
only meaningful when the head has seen such inputs; for a reranker trained on the last layer
alone the curve shows how fast quality falls when the model is cut, and what it would save.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.evaluators.base import pair_columns
from workbench.evaluators.ce_correlation import compute


def threshold_accuracy(predictions: Any, labels: Any, threshold: float = 0.5) -> float:
    """Share of pairs where ``score >= threshold`` agrees with ``label >= threshold``.

    One threshold for every depth: a calibrated reranker keeps this high at each cut.
    """
    predicted = np.asarray(predictions, dtype=float) >= threshold
    return float(np.mean(predicted == (np.asarray(labels, dtype=float) >= threshold)))


def reranker_grid(ce: Any, dataset_or_pairs: Any, layers: Sequence[int] | None = None,
                  batch_size: int = 64, precision: str = "fp32",
                  threshold: float = 0.5) -> pd.DataFrame:
    """CE correlation (``spearman``, ``pearson``) and measured latency per depth.

    Columns: ``layer, dim, spearman, pearson, accuracy_at_0.5`` (score and label on the same
    side of ``threshold``: one threshold at every depth), ``latency_ms_per_1k`` (ms per 1,000
    pairs, timing
    the whole evaluation pass at that depth), ``bytes_per_vector`` (NaN), ``quality_retained``,
    ``status``, ``diagnosis``.
    """
    s1, s2, scores = pair_columns(dataset_or_pairs)
    pairs = list(zip(s1, s2, strict=True))
    depth = ce.model.config.num_hidden_layers
    ce.predict(pairs[:batch_size], batch_size=batch_size, precision=precision)  # warm-up
    rows = []
    for k in sorted(set(layers or range(1, depth + 1))):
        start = time.perf_counter()
        predictions = ce.predict(pairs, batch_size=batch_size, precision=precision,
                                 show_progress=False, layer=k)
        elapsed = time.perf_counter() - start
        result = compute(predictions, scores)
        rows.append({"layer": k, "dim": ce.model.config.hidden_size,
                     "spearman": result.metrics.get("spearman", np.nan),
                     "pearson": result.metrics.get("pearson", np.nan),
                     "accuracy_at_0.5": threshold_accuracy(predictions, scores, threshold),
                     "latency_ms_per_1k": elapsed / len(pairs) * 1e6,
                     "bytes_per_vector": np.nan, "status": result.status,
                     "diagnosis": result.diagnosis})
    frame = pd.DataFrame(rows)
    frame.insert(7, "quality_retained", frame["spearman"] / frame["spearman"].iloc[-1])
    return frame
