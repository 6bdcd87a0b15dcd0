"""Training health: stop at once on a NaN/inf loss; flag collapse (seed card 004) at evals.

Collapse rule: at each evaluation the probe texts are embedded; the run counts a *strike* when
the training loss since the last evaluation is flat within noise (relative spread below
``flat_loss_rtol``) AND the probe embeddings are degenerate (non-finite, identical, per-dim std
below ``collapse_std`` or mean pairwise cosine above ``collapse_cosine``) or an evaluator says
``degenerate``. ``collapse_patience`` strikes in a row mark the run ``degenerate``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.evaluators.health import diagnose_embeddings, embedding_health

DIAGNOSTIC_NAME = "nonfinite_loss.json"


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or inf; the diagnostic JSON says where and on what."""


def check_finite_loss(value: float, step: int, texts: dict[str, list[str]],
                      parts: dict[str, Any], folder: str | Path | None) -> None:
    """Raise :class:`NonFiniteLossError` (after writing a diagnostic) if ``value`` is NaN/inf."""
    if math.isfinite(value):
        return
    diag = {"step": step, "loss": str(value), "loss_parts": parts, "batch_texts": texts}
    where = "not saved (no output_dir)"
    if folder is not None:
        path = Path(folder) / DIAGNOSTIC_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(diag, indent=1, default=str))
        where = str(path)
    raise NonFiniteLossError(
        f"training loss is {value} at step {step}; training stopped. The batch, the loss "
        f"parts and embedding checks are in {where}. Usual causes: a learning rate too high, "
        f"fp16 overflow, or labels outside the loss's range.")


def loss_parts(loss: torch.nn.Module, features: list[dict[str, torch.Tensor]]) -> dict[str, Any]:
    """Per-column embedding checks for the diagnostic (finite? norms?) from a no-grad forward."""
    parts: dict[str, Any] = {"loss": type(loss).__name__, "config": getattr(loss, "config", None)}
    model = getattr(loss, "model", None)
    if model is None or not hasattr(model, "num_layers"):
        return parts
    with torch.no_grad():
        for i, feats in enumerate(features):
            emb = model(feats)[model.num_layers].float()
            parts[f"column_{i}"] = {"nonfinite_values": int((~torch.isfinite(emb)).sum()),
                                    "mean_norm": float(emb.norm(dim=-1).mean())}
    return parts


def probe_embeddings(model: Any, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """(N, D) probe vectors: last-layer embeddings, or (N, 1) scores for a cross-encoder."""
    if hasattr(model, "encode_layers"):
        layer = model.num_layers
        return model.encode_layers(list(texts), [layer], batch_size=batch_size,
                                   show_progress=False)[layer].numpy()
    pairs = list(zip(texts, list(texts[1:]) + list(texts[:1]), strict=True))
    scores = model.predict(pairs, batch_size=batch_size, show_progress=False)
    return np.asarray(scores, dtype=np.float64).reshape(len(pairs), -1)


class CollapseMonitor:
    """Counts consecutive evaluations with a flat loss and degenerate probe outputs."""

    def __init__(self, patience: int = 3, flat_loss_rtol: float = 1e-3,
                 collapse_cosine: float = 0.99, collapse_std: float = 1e-4) -> None:
        self.patience = patience
        self.flat_loss_rtol = flat_loss_rtol
        self.collapse_cosine = collapse_cosine
        self.collapse_std = collapse_std
        self.strikes = 0
        self.diagnosis: str | None = None
        self.previous_loss: float | None = None

    def loss_is_flat(self, losses: Sequence[float]) -> bool:
        """All given losses equal within ``flat_loss_rtol`` (relative); needs two or more."""
        vals = np.asarray([v for v in losses if v is not None], dtype=np.float64)
        if len(vals) < 2:
            return False
        spread = float(vals.max() - vals.min())
        return spread <= self.flat_loss_rtol * max(abs(float(vals.mean())), 1e-12)

    def embeddings_collapsed(self, emb: np.ndarray) -> str | None:
        """Why the probe embeddings are degenerate, or ``None``."""
        reason = diagnose_embeddings(emb, what="probe embeddings")
        if reason is not None:
            return reason
        h = embedding_health(emb)
        if h["std_max"] < self.collapse_std:
            return f"probe embeddings nearly constant (max per-dim std {h['std_max']:.1e})"
        if h["dim"] > 1 and h["mean_pairwise_cosine"] > self.collapse_cosine:
            return (f"probe embeddings point one way (mean pairwise cosine "
                    f"{h['mean_pairwise_cosine']:.4f} > {self.collapse_cosine})")
        return None

    def update(self, losses: Sequence[float], emb: np.ndarray,
               eval_statuses: Sequence[str] = ()) -> dict[str, Any]:
        """Record one evaluation; returns the health event (``degenerate`` when patience ran out)."""
        losses = [v for v in losses if v is not None]
        flat = self.loss_is_flat(([self.previous_loss] if self.previous_loss is not None else [])
                                 + losses)
        self.previous_loss = losses[-1] if losses else self.previous_loss
        reason = self.embeddings_collapsed(emb)
        if reason is None and "degenerate" in eval_statuses:
            reason = "an evaluator reported degenerate outputs (e.g. NaN correlations)"
        self.strikes = self.strikes + 1 if (flat and reason) else 0
        h = embedding_health(emb)
        event = {"loss_flat": flat, "collapse": reason, "strikes": self.strikes,
                 "probe_std_max": h["std_max"], "probe_mean_cosine": h["mean_pairwise_cosine"],
                 "status": "ok"}
        if self.strikes >= self.patience:
            self.diagnosis = (f"degenerate run: training loss flat at {losses[-1]:.4f} and {reason} "
                              f"for {self.strikes} evaluations in a row (seed card 004's failure)")
            event.update(status="degenerate", diagnosis=self.diagnosis)
        return event

    def state_dict(self) -> dict[str, Any]:
        return {"strikes": self.strikes, "diagnosis": self.diagnosis,
                "previous_loss": self.previous_loss}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.strikes, self.diagnosis = state["strikes"], state["diagnosis"]
        self.previous_loss = state.get("previous_loss")
