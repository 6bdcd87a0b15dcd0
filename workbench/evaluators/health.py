"""Degenerate-output detection: collapsed embeddings and constant predictions.

Seed card 004 is the failure to catch: an untrained model whose embeddings collapsed, every
correlation NaN, written into a card as if it were a result. Constant inputs make Pearson and
Spearman undefined (0/0), so these checks run before any metric is reported.

``embedding_health`` is also the statistic the trainer's collapse check reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

NEAR_CONSTANT_RTOL = 1e-6
"""Spread at or below this fraction of the values' magnitude counts as constant."""


def _as_array(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def embedding_health(emb: Any) -> dict[str, Any]:
    """Statistics of an (N, D) embedding matrix.

    Returns ``n``, ``dim``, ``nonfinite_rows``, ``identical`` (every row equals the first),
    ``per_dim_std`` (array (D,), population std), ``std_max``, ``std_mean``, ``mean_abs``,
    ``mean_norm`` and ``mean_pairwise_cosine``: the exact mean of cos(u_i, u_j) over i != j,
    from (||sum_i u_i||^2 - sum_i ||u_i||^2) / (N (N - 1)) with u_i = e_i / ||e_i||, in O(N D).
    """
    e = _as_array(emb)
    if e.ndim != 2:
        raise ValueError(f"embeddings must be (N, D); got shape {e.shape}")
    n, dim = e.shape
    finite = np.isfinite(e).all(axis=1)
    good = e[finite]
    stats: dict[str, Any] = {"n": n, "dim": dim, "nonfinite_rows": int(n - finite.sum()),
                             "identical": bool(n > 0 and (e == e[0]).all())}
    if len(good) == 0:
        nan = float("nan")
        return {**stats, "per_dim_std": np.full(dim, np.nan), "std_max": nan, "std_mean": nan,
                "mean_abs": nan, "mean_norm": nan, "mean_pairwise_cosine": nan}
    std = good.std(axis=0)
    norms = np.linalg.norm(good, axis=1)
    unit = good / np.where(norms > 0, norms, 1.0)[:, None]
    m = len(unit)
    total = float(np.square(unit.sum(axis=0)).sum())
    self_sim = float(np.square(unit).sum())
    mean_cos = (total - self_sim) / (m * (m - 1)) if m > 1 else 1.0
    return {**stats, "per_dim_std": std, "std_max": float(std.max()), "std_mean": float(std.mean()),
            "mean_abs": float(np.abs(good).mean()), "mean_norm": float(norms.mean()),
            "mean_pairwise_cosine": float(mean_cos)}


def diagnose_embeddings(emb: Any, what: str = "embeddings",
                        rtol: float = NEAR_CONSTANT_RTOL) -> str | None:
    """A sentence saying why ``emb`` is degenerate, or ``None`` if it is usable.

    Degenerate: non-finite values; every row identical; or max per-dim std <= rtol * mean |value|.
    """
    h = embedding_health(emb)
    n = h["n"]
    if n == 0:
        return f"no {what}"
    if h["nonfinite_rows"]:
        return f"{h['nonfinite_rows']:,} of {n:,} {what} contain NaN or inf"
    if h["identical"]:
        return f"all {n:,} {what} identical (std 0.0)"
    if h["std_max"] <= rtol * max(h["mean_abs"], np.finfo(np.float64).tiny):
        return (f"all {n:,} {what} nearly identical (max per-dim std {h['std_max']:.1e}, "
                f"mean pairwise cosine {h['mean_pairwise_cosine']:.6f})")
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
