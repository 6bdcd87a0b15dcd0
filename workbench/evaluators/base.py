"""What every evaluator returns (``EvalResult``) and how pair data is read.

An evaluator never passes NaN off as a number: NaN metrics are dropped from ``metrics``, the
result gets ``status="degenerate"`` and ``diagnosis`` says what happened and which keys went.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from workbench.data.pairs import LABEL_COLUMNS, pair_columns  # noqa: F401 (re-exported)
from workbench.models.bi_encoder import distinct_texts, truncate

OK = "ok"
DEGENERATE = "degenerate"


@dataclass
class EvalResult:
    """One evaluation.

    Args:
        metrics: finite values keyed like the seed cards (``sts-dev_spearman_cosine``).
        primary_metric: the key callers rank by (may be absent from ``metrics`` if degenerate).
        status: "ok" or "degenerate".
        diagnosis: why the result is degenerate, in words; ``None`` when ok.
    """

    metrics: dict[str, float] = field(default_factory=dict)
    primary_metric: str = ""
    status: str = OK
    diagnosis: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def primary(self) -> float | None:
        """The primary metric's value, or ``None`` when it was withheld."""
        return self.metrics.get(self.primary_metric)

def metric_key(name: str, metric: str) -> str:
    """``{name}_{metric}``, or ``metric`` without a name (the seed cards' key rule)."""
    return f"{name}_{metric}" if name else metric


def prefix(metrics: dict[str, float], name: str) -> dict[str, float]:
    """``{name}_{key}`` as sentence-transformers' ``prefix_name_to_metrics`` (no prefix if empty)."""
    return {metric_key(name, k): v for k, v in metrics.items()}


def finalize(metrics: dict[str, Any], primary_metric: str, name: str = "",
             diagnosis: str | None = None, notes: Sequence[str] = ()) -> EvalResult:
    """Prefix keys, cast to float, drop NaN/inf and mark the result degenerate when needed.

    ``diagnosis`` (from a health check) makes the result degenerate and withholds every metric:
    numbers computed from collapsed embeddings are noise, not results. ``notes`` explain NaNs.
    """
    values = {k: float(v) for k, v in prefix(metrics, name).items()}
    primary = metric_key(name, primary_metric)
    if diagnosis is not None:
        return EvalResult({}, primary, DEGENERATE, f"{diagnosis}; metrics withheld")
    bad = sorted(k for k, v in values.items() if not math.isfinite(v))
    if not bad:
        return EvalResult(values, primary, OK, None)
    kept = {k: v for k, v in values.items() if k not in bad}
    shown = ", ".join(bad[:4]) + (f" and {len(bad) - 4} more" if len(bad) > 4 else "")
    why = "".join(f"{note}; " for note in notes)
    return EvalResult(kept, primary, DEGENERATE,
                      f"{why}{len(bad)} metric(s) undefined (NaN), dropped: {shown}")


def finite_max(values: Sequence[float]) -> float:
    """Max over finite values (Python's ``max`` with NaN depends on order); NaN if none."""
    finite = [float(v) for v in values if math.isfinite(float(v))]
    return max(finite) if finite else math.nan


def encode_pairs(model: Any, sentences1: Sequence[str], sentences2: Sequence[str],
                 layers: Sequence[int] | None = None, batch_size: int = 64,
                 precision: str = "fp32") -> dict[int, tuple[Any, Any]]:
    """ONE encode pass over the distinct texts of both columns: ``{layer: (emb1, emb2)}``.

    ``model`` is anything with ``encode_layers(texts, layers, batch_size, precision)`` (the
    ``BiEncoder``); every requested layer comes from the same forward.
    """
    unique, rows = distinct_texts([*sentences1, *sentences2])
    if rows is None:
        rows = torch.arange(len(unique))
    rows1, rows2 = rows[:len(sentences1)], rows[len(sentences1):]
    embs = model.encode_layers(unique, layers=layers, batch_size=batch_size, precision=precision)
    return {k: (e[rows1], e[rows2]) for k, e in embs.items()}


def embed_cell(model: Any, sentences1: Sequence[str], sentences2: Sequence[str],
               layer: int | None = None, dim: int | None = None, batch_size: int = 64,
               precision: str = "fp32") -> tuple[torch.Tensor, torch.Tensor]:
    """Both columns' embeddings for one (layer, dim) cell (default: last layer, every dim)."""
    layer = layer or model.num_layers
    model.check_cell(layer, dim)
    emb1, emb2 = encode_pairs(model, sentences1, sentences2, [layer], batch_size, precision)[layer]
    if dim is not None:
        emb1, emb2 = truncate(emb1, dim, model.normalize), truncate(emb2, dim, model.normalize)
    return emb1, emb2


class PairEvaluator:
    """A bi-encoder evaluator over ``(text, text, gold)`` pairs at one (layer, dim) cell.

    ``__call__`` encodes both columns at ``layer`` (default: last), keeps ``dim`` dims and hands
    the two embedding matrices to the subclass's ``score``; ``from_dataset`` reads the columns.
    """

    def __init__(self, sentences1: Sequence[str], sentences2: Sequence[str], gold: Sequence[float],
                 name: str, similarity_fns: Sequence[str], batch_size: int,
                 precision: str) -> None:
        self.sentences1, self.sentences2, self.gold = pair_columns((sentences1, sentences2, gold))
        self.name = name
        self.similarity_fns = tuple(similarity_fns)
        self.batch_size = batch_size
        self.precision = precision

    @classmethod
    def from_dataset(cls, data: Any, name: str = "", label_column: str | None = None,
                     **kwargs: Any) -> PairEvaluator:
        """From a ``datasets.Dataset``, DataFrame or ``(s1, s2, gold)`` tuple."""
        return cls(*pair_columns(data, label_column), name=name, **kwargs)

    def score(self, emb1: torch.Tensor, emb2: torch.Tensor) -> EvalResult:
        raise NotImplementedError

    def __call__(self, model: Any, layer: int | None = None, dim: int | None = None) -> EvalResult:
        """Encode both columns at ``layer`` (default: last), keep ``dim`` dims, and score."""
        emb1, emb2 = embed_cell(model, self.sentences1, self.sentences2, layer, dim,
                                self.batch_size, self.precision)
        return self.score(emb1, emb2)
