"""Pearson and Spearman correlation, as scipy's ``pearsonr`` / ``spearmanr`` compute them.

``pearson(x, y) = <x - mean(x), y - mean(y)> / (||x - mean(x)|| ||y - mean(y)||)``, clipped to
[-1, 1]; ``spearman(x, y) = pearson(rank(x), rank(y))`` with tied values given their average
rank (scipy's ``rankdata(method="average")``). Both are NaN, not a warning, when either side is
constant, shorter than 2 or holds a NaN (``health.diagnose_scores`` says which).

Why not scipy itself: a grid scores every (layer, dim) cell with four similarity functions, 120
calls on STS-B, and scipy's per-call checks and its re-ranking of the same gold scores in every
call took 0.21 s of a 10 s MiniLM grid. Here the gold scores are ranked once
(:class:`Gold`) and each call is a few numpy passes; the values agree with scipy's to rounding
(``tests/evaluators/test_correlation.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``; a run of equal values shares the mean of its ranks."""
    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1], [True])))
    mean_rank = (starts[:-1] + starts[1:] + 1) / 2.0  # run [a, b): mean of ranks a+1 .. b
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, np.diff(starts))
    return ranks


def _centred(x: np.ndarray) -> tuple[np.ndarray, float]:
    centred = x - (x.mean() if len(x) else 0.0)  # empty: norm 0, so NaN, and no warning
    return centred, float(np.linalg.norm(centred))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r of two equal-length float vectors (NaN if either is constant or has a NaN)."""
    return _pearson(_centred(np.asarray(x, dtype=np.float64)), np.asarray(y, dtype=np.float64))


def _pearson(x: tuple[np.ndarray, float], y: np.ndarray) -> float:
    (xc, xn), (yc, yn) = x, _centred(y)
    if not (xn > 0 and yn > 0 and math.isfinite(xn * yn)):
        return math.nan
    return float(np.clip(xc @ yc / xn / yn, -1.0, 1.0))


@dataclass
class Gold:
    """Gold scores prepared once for many correlations: centred, and their ranks centred."""

    scores: np.ndarray
    _values: tuple[np.ndarray, float] = field(init=False, repr=False)
    _ranks: tuple[np.ndarray, float] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float64)
        self._values = _centred(self.scores)
        finite = not np.isnan(self.scores).any()
        self._ranks = _centred(average_ranks(self.scores)) if finite else None

    def correlations(self, predicted: np.ndarray) -> tuple[float, float]:
        """(Pearson r, Spearman rho) of the gold scores and ``predicted``."""
        predicted = np.asarray(predicted, dtype=np.float64)
        if len(predicted) != len(self.scores):
            raise ValueError(f"{len(predicted)} predictions for {len(self.scores)} gold scores")
        r = _pearson(self._values, predicted)
        if self._ranks is None or np.isnan(predicted).any():
            return r, math.nan
        return r, _pearson(self._ranks, average_ranks(predicted))


def correlations(gold: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """(Pearson r, Spearman rho); prepare a :class:`Gold` to correlate many predictions."""
    return Gold(gold).correlations(predicted)
