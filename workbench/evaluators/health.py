"""Degenerate-output detection: collapsed embeddings and constant predictions.

Seed card 004 is the failure to catch: an untrained model whose embeddings collapsed, every
correlation NaN, written into a card as if it were a result. Constant inputs make Pearson and
Spearman undefined (0/0), so these checks run before any metric is reported.

``embedding_health`` is also the statistic the trainer's collapse check reads, and
``probe_collapse`` the rule it applies (against the zero-shot model's statistics).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

NEAR_CONSTANT_RTOL = 1e-6
"""Spread at or below this fraction of the values' magnitude counts as constant."""


def _as_array(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()  # exact for every float dtype
    return np.asarray(x, dtype=np.float64)


def _matrix(emb: Any) -> np.ndarray:
    """``emb`` as a float64 (N, D) array; ValueError naming the shape otherwise."""
    e = _as_array(emb)
    if e.ndim != 2:
        raise ValueError(f"embeddings must be (N, D); got shape {e.shape}")
    return e


def embedding_health(emb: Any) -> dict[str, Any]:
    """Statistics of an (N, D) embedding matrix.

    Returns ``n``, ``dim``, ``nonfinite_rows``, ``identical`` (every row equals the first),
    ``per_dim_std`` (array (D,), population std), ``std_max``, ``std_mean``, ``mean_abs``,
    ``mean_norm``, ``mean_pairwise_cosine`` (:func:`mean_pairwise_cosine`) and
    ``participation_ratio`` (:func:`participation_ratio`).
    """
    e = _matrix(emb)
    n, dim = e.shape
    finite = np.isfinite(e).all(axis=1)
    good = e[finite]
    stats: dict[str, Any] = {"n": n, "dim": dim, "nonfinite_rows": int(n - finite.sum()),
                             "identical": bool(n > 0 and (e == e[0]).all())}
    if len(good) == 0:
        nan = float("nan")
        return {**stats, "per_dim_std": np.full(dim, np.nan), "std_max": nan, "std_mean": nan,
                "mean_abs": nan, "mean_norm": nan, "mean_pairwise_cosine": nan,
                "participation_ratio": nan}
    std = good.std(axis=0)
    norms = np.linalg.norm(good, axis=1)
    return {**stats, "per_dim_std": std, "std_max": float(std.max()), "std_mean": float(std.mean()),
            "mean_abs": float(np.abs(good).mean()), "mean_norm": float(norms.mean()),
            "mean_pairwise_cosine": mean_pairwise_cosine(good, norms),
            "participation_ratio": participation_ratio(good)}


def mean_pairwise_cosine(emb: np.ndarray, norms: np.ndarray | None = None) -> float:
    """The exact mean of cos(u_i, u_j) over i != j of finite (N, D) rows, in O(N D):
    (||sum_i u_i||^2 - sum_i ||u_i||^2) / (N (N - 1)) with u_i = e_i / ||e_i|| (1.0 for N < 2)."""
    norms = np.linalg.norm(emb, axis=1) if norms is None else norms
    unit = emb / np.where(norms > 0, norms, 1.0)[:, None]
    m = len(unit)
    total = float(np.square(unit.sum(axis=0)).sum())
    self_sim = float(np.square(unit).sum())
    return (total - self_sim) / (m * (m - 1)) if m > 1 else 1.0


def participation_ratio(emb: np.ndarray) -> float:
    """Effective number of directions the (centred) embeddings vary along.

    PR = (sum_k s_k^2)^2 / sum_k s_k^4 over the singular values s_k of E - mean(E) (Gao et al.
    2017, "A theory of multineuronal dimensionality"): D for isotropic spread, 1 when all the
    variance lies on one line (rank collapse). 0 for constant embeddings.
    """
    centred = emb - emb.mean(axis=0, keepdims=True)
    var = np.linalg.svd(centred, compute_uv=False) ** 2
    total = float(var.sum())
    return total ** 2 / float(np.square(var).sum()) if total > 0 else 0.0


SCREEN_MARGIN = 1e3
""":func:`diagnose_embeddings`' quick screen passes only spreads this many times above the bar."""
SCREEN_ROWS = 8


def _clearly_spread(emb: Any, rtol: float) -> bool:
    """True if an (N, D) tensor is surely usable, from its first rows and one pass.

    Any two rows bound the spread from below: a column whose values differ by r somewhere has
    std >= r / sqrt(2 N) (the least variance with two values r apart puts the rest at their
    midpoint). So if the rows ``1..SCREEN_ROWS`` differ from row 0 by r, and r / sqrt(2 N) >
    ``SCREEN_MARGIN * rtol * mean |value|``, the max per-dim std clears the bar and the rows
    differ. A finite mean |value| means every value is finite (an overflowing sum only sends
    the tensor to the exact checks). Anything else goes to the exact checks.
    """
    if not isinstance(emb, torch.Tensor) or emb.ndim != 2 or len(emb) < 2:
        return False
    e = emb.detach().cpu()
    mean_abs = float(e.abs().sum()) / max(e.numel(), 1)  # cascade sum: ~1e-7 relative
    spread = float((e[1:SCREEN_ROWS + 1] - e[0]).abs().max()) if e.shape[1] else 0.0
    return math.isfinite(mean_abs) and spread / math.sqrt(2 * len(e)) > SCREEN_MARGIN * rtol * mean_abs


def diagnose_embeddings(emb: Any, what: str = "embeddings",
                        rtol: float = NEAR_CONSTANT_RTOL) -> str | None:
    """A sentence saying why ``emb`` is degenerate, or ``None`` if it is usable.

    Degenerate: non-finite values; every row identical; or max per-dim std <= rtol * mean |value|.
    A tensor whose spread surely clears that bar by ``SCREEN_MARGIN`` (:func:`_clearly_spread`,
    ~1 ms for 2,758 x 384) skips the exact float64 checks (~5 ms): a grid diagnoses every cell.
    """
    if _clearly_spread(emb, rtol):
        return None
    e = _matrix(emb)  # only what the verdict needs: no spectrum (a grid diagnoses every cell)
    n = len(e)
    if n == 0:
        return f"no {what}"
    nonfinite = int(n - np.isfinite(e).all(axis=1).sum())
    if nonfinite:
        return f"{nonfinite:,} of {n:,} {what} contain NaN or inf"
    if (e == e[0]).all():
        return f"all {n:,} {what} identical (std 0.0)"
    std_max = float(e.std(axis=0).max())
    if std_max <= rtol * max(float(np.abs(e).mean()), np.finfo(np.float64).tiny):
        return (f"all {n:,} {what} nearly identical (max per-dim std {std_max:.1e}, "
                f"mean pairwise cosine {mean_pairwise_cosine(e):.6f})")
    return None


def diagnose_scores(scores: Any, what: str = "predictions",
                    rtol: float = NEAR_CONSTANT_RTOL) -> str | None:
    """Why a score vector cannot be correlated (NaN/inf, constant, near-constant), or ``None``."""
    s = _as_array(scores).ravel()
    n = len(s)
    if n < 2:
        return f"{n} {what}: correlation needs at least 2"
    bad = int((~np.isfinite(s)).sum())
    if bad:
        return f"{bad:,} of {n:,} {what} are NaN or inf"
    if (s == s[0]).all():
        return f"all {n:,} {what} identical ({s[0]:.6g})"
    std = float(s.std())
    if std <= rtol * max(float(np.abs(s).mean()), np.finfo(np.float64).tiny):
        return f"all {n:,} {what} nearly identical (mean {s.mean():.6g}, std {std:.1e})"
    return None


COLLAPSE_COSINE = 0.99
"""Mean pairwise cosine above which vectors lie within ~8 degrees of each other (arccos 0.99)."""
SPREAD_DROP = 10.0
"""... and their spread (1 - mean cosine) is this many times smaller than the zero-shot model's."""
RANK_COLLAPSE = 3.0
"""Participation ratio at or below which the variance lies in about three directions or fewer ..."""
RANK_DROP = 3.0
"""... where the zero-shot model spread it over at least this many times more."""
SCORE_DROP = 100.0
"""One-column outputs (cross-encoder scores) whose std fell this many times count as constant."""


def probe_collapse(stats: dict[str, Any], baseline: dict[str, Any] | None = None,
                   cosine: float = COLLAPSE_COSINE, what: str = "probe embeddings") -> str | None:
    """Why embeddings with ``stats`` (from :func:`embedding_health`) collapsed, or ``None``.

    Absolute: NaN/inf rows, every row identical. Against ``baseline`` (the same statistics of
    the zero-shot model on the same texts; without it the absolute thresholds alone decide):
    one direction (mean cosine > ``cosine`` and spread 1 - cos down ``SPREAD_DROP``x), rank
    collapse (participation ratio <= ``RANK_COLLAPSE`` and down ``RANK_DROP``x), or for
    one-column outputs a std down ``SCORE_DROP``x. A model that started that way is not flagged
    by the relative rules: a random model's quality is judged by its metrics, not its geometry.
    """
    n = stats["n"]
    if stats["nonfinite_rows"]:
        return f"{stats['nonfinite_rows']:,} of {n:,} {what} contain NaN or inf"
    if stats["identical"] or stats["std_max"] == 0:
        return f"all {n:,} {what} identical (std 0.0)"
    if stats["std_max"] <= NEAR_CONSTANT_RTOL * stats["mean_abs"]:
        return f"all {n:,} {what} nearly identical (max per-dim std {stats['std_max']:.1e})"
    base = baseline or {}
    if stats["dim"] == 1:
        before = base.get("std_max")
        if before and stats["std_max"] * SCORE_DROP <= before:
            return (f"{what} nearly constant (std {stats['std_max']:.2e}, "
                    f"zero-shot {before:.2e})")
        return None
    cos, spread = stats["mean_pairwise_cosine"], 1.0 - stats["mean_pairwise_cosine"]
    was = base.get("mean_pairwise_cosine")
    if cos > cosine and (was is None or spread * SPREAD_DROP <= 1.0 - was):
        zero_shot = f", zero-shot {was:.4f}" if was is not None else ""
        return f"{what} point one way (mean pairwise cosine {cos:.4f} > {cosine}{zero_shot})"
    pr, pr_was = stats["participation_ratio"], base.get("participation_ratio")
    if pr <= RANK_COLLAPSE and (pr_was is None or pr * RANK_DROP <= pr_was):
        zero_shot = f"; zero-shot {pr_was:.1f}" if pr_was is not None else ""
        return (f"{what} rank-collapsed (participation ratio {pr:.2f} of {stats['dim']} "
                f"dimensions{zero_shot})")
    return None
