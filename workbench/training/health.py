"""Training health: a verdict (ok / warning / degenerate) that says what went wrong, in numbers.

Checks, each independent of whether the loss looks flat (a noisy MNRL loss never does):

* **divergence**: a NaN/inf loss stops training at once (on every rank together) and makes
  the run ``degenerate``; a loss blow-up (the mean since the last evaluation at least
  ``blowup_factor`` times, and 1.0 above, the first evaluation window's) is a ``warning``.
* **collapse at evaluations**: the probe texts are embedded at every evaluation and compared
  with the zero-shot model's probe (:func:`workbench.evaluators.health.probe_collapse`: NaN,
  identical, one direction, rank collapse); an evaluator returning ``degenerate`` (NaN metrics)
  counts too. ``patience`` collapsed evaluations in a row (default 2) make the run
  ``degenerate`` and stop it; a collapse the run recovered from is a ``warning``.
* **collapse of the final model**: every layer's probe after training; a collapsed last layer
  (the model's output) is ``degenerate``, collapsed earlier layers a ``warning``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.evaluators.health import COLLAPSE_COSINE, embedding_health, probe_collapse

DIAGNOSTIC_NAME = "nonfinite_loss.json"
LEVELS = ("ok", "warning", "degenerate")
STAT_KEYS = ("n", "dim", "nonfinite_rows", "identical", "std_max", "mean_abs",
             "mean_pairwise_cosine", "participation_ratio")


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or inf; the diagnostic JSON says where and on what."""


def worst(statuses: Iterable[str]) -> str:
    """The most severe of ``statuses`` in ``LEVELS`` order ("ok" when empty)."""
    return max(statuses, key=lambda s: LEVELS.index(s) if s in LEVELS else 0, default="ok")


def check_finite_loss(value: float, step: int, texts: dict[str, list[str]],
                      parts: dict[str, Any], folder: str | Path | None,
                      rank: int | None = None, world: int = 1) -> None:
    """Raise :class:`NonFiniteLossError` (after writing a diagnostic) if ``value`` is NaN/inf.

    ``rank``: the process whose loss it was (every rank raises the same error in DDP; only the
    one with the batch passes ``texts``/``parts`` and a ``folder`` to write them to).
    """
    if math.isfinite(value):
        return
    where = f" on rank {rank} of {world}" if world > 1 else ""
    path = Path(folder) / DIAGNOSTIC_NAME if folder is not None else None
    if path is not None and texts:
        diag = {"step": step, "rank": rank, "loss": str(value), "loss_parts": parts,
                "batch_texts": texts}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(diag, indent=1, default=str))
    saved = f"in {path}" if path is not None else "not saved (no output_dir)"
    raise NonFiniteLossError(
        f"training loss is {value} at step {step}{where}; training stopped. The batch, the loss "
        f"parts and embedding checks are {saved}. Usual causes: a learning rate too high, "
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


def probe_layers(model: Any, texts: Sequence[str], batch_size: int = 32,
                 last_only: bool = False) -> dict[str, np.ndarray]:
    """Probe outputs keyed ``"1"`` .. ``"L"`` (a bi-encoder's layers; ``last_only``: just L), or
    ``{"scores": (N, 1)}`` for a cross-encoder (scores of each text with the next)."""
    if hasattr(model, "encode_layers"):
        layers = [model.num_layers] if last_only else None
        out = model.encode_layers(list(texts), layers, batch_size=batch_size, show_progress=False)
        return {str(k): v.numpy() for k, v in out.items()}
    pairs = list(zip(texts, list(texts[1:]) + list(texts[:1]), strict=True))
    scores = model.predict(pairs, batch_size=batch_size, show_progress=False)
    return {"scores": np.asarray(scores, dtype=np.float64).reshape(len(pairs), -1)}


def output_key(probes: dict[str, Any]) -> str:
    """The key of the model's output: the last layer, or "scores"."""
    return max(probes, key=lambda k: int(k) if k.isdigit() else 10**9)


def probe_stats(emb: np.ndarray) -> dict[str, Any]:
    """The JSON-ready part of :func:`embedding_health` the verdicts read."""
    h = embedding_health(emb)
    return {k: h[k] for k in STAT_KEYS}


class CollapseMonitor:
    """Per-evaluation collapse and loss checks against the zero-shot probe; the run's verdict."""

    def __init__(self, patience: int = 2, flat_loss_rtol: float = 1e-3,
                 collapse_cosine: float = COLLAPSE_COSINE, blowup_factor: float = 4.0) -> None:
        self.patience, self.flat_loss_rtol = patience, flat_loss_rtol
        self.collapse_cosine, self.blowup_factor = collapse_cosine, blowup_factor
        self.baseline: dict[str, dict[str, Any]] = {}
        self.strikes, self.collapsed_at = 0, []
        self.diagnosis: str | None = None
        self.previous_loss: float | None = None
        self.first_loss: float | None = None
        self.blowup: str | None = None

    def set_baseline(self, probes: dict[str, np.ndarray]) -> None:
        """Statistics of the zero-shot model's probe, per layer (taken before the first step)."""
        self.baseline = {k: probe_stats(v) for k, v in probes.items()}

    def collapse(self, key: str, emb: np.ndarray) -> tuple[dict[str, Any], str | None]:
        """Statistics of ``emb`` (probe of layer ``key``) and why it collapsed, or ``None``."""
        stats = probe_stats(emb)
        what = f"layer {key} probe embeddings" if key.isdigit() else "probe scores"
        return stats, probe_collapse(stats, self.baseline.get(key), self.collapse_cosine, what)

    def loss_is_flat(self, losses: Sequence[float]) -> bool:
        """All given losses equal within ``flat_loss_rtol`` (relative); needs two or more."""
        vals = np.asarray([v for v in losses if v is not None], dtype=np.float64)
        if len(vals) < 2:
            return False
        spread = float(vals.max() - vals.min())
        return spread <= self.flat_loss_rtol * max(abs(float(vals.mean())), 1e-12)

    def _check_blowup(self, step: int, losses: list[float]) -> None:
        if not losses:
            return
        recent = float(np.mean(losses))
        if self.first_loss is None:
            self.first_loss = recent
        elif (self.blowup is None and recent >= self.blowup_factor * abs(self.first_loss)
              and recent - self.first_loss >= 1.0):
            self.blowup = (f"training loss blew up from {self.first_loss:.4f} (first evaluation "
                           f"window) to {recent:.4f} by step {step}")

    def update(self, step: int, losses: Sequence[float], probes: dict[str, np.ndarray],
               eval_statuses: Sequence[str] = ()) -> dict[str, Any]:
        """Record one evaluation; returns the health event (``degenerate`` when patience ran out)."""
        losses = [v for v in losses if v is not None and math.isfinite(v)]
        previous = [self.previous_loss] if self.previous_loss is not None else []
        flat = self.loss_is_flat(previous + losses)
        self.previous_loss = losses[-1] if losses else self.previous_loss
        self._check_blowup(step, losses)
        key = output_key(probes)
        stats, reason = self.collapse(key, probes[key])
        if reason is None and "degenerate" in eval_statuses:
            reason = "an evaluator reported degenerate outputs (NaN metrics)"
        self.strikes = self.strikes + 1 if reason else 0
        self.collapsed_at += [step] if reason else []
        event = {"step": step, "loss_flat": flat, "collapse": reason, "strikes": self.strikes,
                 "probe_std_max": stats["std_max"],
                 "probe_mean_cosine": stats["mean_pairwise_cosine"],
                 "probe_participation_ratio": stats["participation_ratio"],
                 "loss_blowup": self.blowup, "status": "warning" if reason else "ok"}
        if self.strikes >= self.patience:
            steps = ", ".join(map(str, self.collapsed_at[-self.strikes:]))
            flat_note = f"training loss flat at {losses[-1]:.4f} and " if flat and losses else ""
            self.diagnosis = (f"{flat_note}{reason} at {self.strikes} evaluations in a row "
                              f"(steps {steps})")
            event.update(status="degenerate", diagnosis=self.diagnosis)
        return event

    def final_check(self, probes: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
        """Per-layer statistics and collapse reason of the trained model's probe."""
        out = {}
        for key, emb in probes.items():
            stats, reason = self.collapse(key, emb)
            out[key] = {**stats, "collapse": reason}
        return out

    def verdict(self, final: dict[str, dict[str, Any]],
                stopped: str | None = None) -> list[dict[str, str]]:
        """Findings ``{"level", "check", "message"}`` of the whole run, worst first.

        ``final``: :meth:`final_check` of the trained model; ``stopped``: why training stopped
        early (a non-finite loss), if it did.
        """
        found = []
        if stopped:
            found.append(("degenerate", "divergence", stopped))
        out_key = output_key(final) if final else None
        at_end = final[out_key]["collapse"] if out_key else None
        if self.diagnosis:
            tail = ", and in the final model" if at_end else ""
            found.append(("degenerate", "collapse", self.diagnosis + tail))
        elif at_end:
            found.append(("degenerate", "collapse", f"final model: {at_end}"))
        bad = [k for k, v in final.items() if k != out_key and v["collapse"]]
        if bad:
            found.append(("warning", "collapse", f"layer(s) {', '.join(bad)} of {out_key} "
                          f"collapsed after training ({final[bad[0]]['collapse']})"))
        if self.collapsed_at and not found:
            found.append(("warning", "collapse",
                          f"probe collapse at evaluation step(s) "
                          f"{', '.join(map(str, self.collapsed_at))}, gone by the end"))
        if self.blowup:
            found.append(("warning", "divergence", self.blowup))
        found.sort(key=lambda f: -LEVELS.index(f[0]))
        return [{"level": lv, "check": check, "message": msg} for lv, check, msg in found]

    def state_dict(self) -> dict[str, Any]:
        return {"strikes": self.strikes, "diagnosis": self.diagnosis,
                "previous_loss": self.previous_loss, "first_loss": self.first_loss,
                "baseline": self.baseline, "collapsed_at": list(self.collapsed_at),
                "blowup": self.blowup}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.strikes, self.diagnosis = state["strikes"], state["diagnosis"]
        self.previous_loss = state.get("previous_loss")
        self.first_loss, self.blowup = state.get("first_loss"), state.get("blowup")
        self.baseline = state.get("baseline") or {}
        self.collapsed_at = list(state.get("collapsed_at") or [])
