"""The run's health verdict in ``metrics.json``: training's verdict, final evaluations, grids.

``run_health`` adds to the trainer's findings (``workbench.training.health``: divergence,
collapse at evaluations, collapsed layers of the final model) what only the finished run shows:

* an evaluator that returned ``degenerate`` (NaN metrics) on the final model: ``degenerate``;
* an evaluation metric that fell to chance during training from ``DROP`` above it: ``degenerate``;
* quality lost against the **zero-shot grid** of the same model on the same data (a random
  smoke model may score near chance before training; only a fall from its own start counts):

  - a Spearman at or below ``CHANCE`` that was at least ``DROP`` higher zero-shot: ``degenerate``
    for the full model (largest layer and dimension) or any final Spearman metric, ``warning``
    for a smaller cell;
  - a full model ``DROP`` or more below its zero-shot score, still above chance: ``warning``.

``CHANCE = 0.1``: a rank correlation whose square (the share of rank variance explained) is
under 1%. ``DROP = 0.2``: a fall no fine-tuning should cause; with 24 smoke pairs the grids
of a healthy 4-step run move by < 0.03, and a collapsed one falls by ~0.5.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.training.health import worst

CHANCE = 0.1
DROP = 0.2
SPEARMAN_SUFFIXES = ("_spearman_cosine", "_spearman")


def _finding(level: str, check: str, message: str) -> dict[str, str]:
    return {"level": level, "check": check, "message": message}


def _quality_column(grid: pd.DataFrame) -> str | None:
    return next((c for c in ("spearman_cosine", "spearman") if c in grid.columns), None)


def _fell(after: float, before: float) -> bool:
    """At or below chance after training, and at least ``DROP`` above it zero-shot."""
    return after <= CHANCE and before - after >= DROP


def grid_findings(before: pd.DataFrame, after: pd.DataFrame) -> list[dict[str, str]]:
    """Cells of the layer x dim grid that lost their zero-shot quality (see module docstring)."""
    metric = _quality_column(after)
    if metric is None or before is None or before.empty or after.empty:
        return []
    both = after.merge(before[["layer", "dim", metric]], on=["layer", "dim"], suffixes=("", "_0"))
    top = both[both["layer"] == both["layer"].max()]
    full = top.loc[top["dim"].idxmax()]
    a, b = float(full[metric]), float(full[f"{metric}_0"])
    cell = f"the full model (layer {int(full['layer'])}, {int(full['dim'])} dims)"
    found = []
    if math.isfinite(a) and _fell(a, b):
        found.append(_finding("degenerate", "quality", f"{metric} of {cell} fell to chance: "
                              f"{a:.3f} after training, {b:.3f} zero-shot"))
    elif math.isfinite(a) and b - a >= DROP:
        found.append(_finding("warning", "quality", f"{metric} of {cell} is {b - a:.3f} below "
                              f"the zero-shot model ({a:.3f} vs {b:.3f})"))
    lost = both[[_fell(x, y) for x, y in zip(both[metric], both[f"{metric}_0"], strict=True)]]
    lost = lost.drop(index=full.name, errors="ignore")
    if len(lost):
        cells = ", ".join(f"{int(r.layer)}x{int(r.dim)}" for r in lost.itertuples())
        found.append(_finding("warning", "quality", f"{len(lost)} of {len(both)} grid cells "
                              f"(layer x dim: {cells}) fell to {metric} <= {CHANCE} from "
                              f"{DROP} or more above it zero-shot"))
    return found


def metric_findings(metrics: Mapping[str, Any], before: pd.DataFrame | None) -> list[dict]:
    """Final Spearman metrics at chance while the zero-shot full model was well above it."""
    metric = _quality_column(before) if before is not None and not before.empty else None
    if metric is None:
        return []
    top = before[before["layer"] == before["layer"].max()]
    zero_shot = float(top.loc[top["dim"].idxmax()][metric])
    low = {k: v for k, v in metrics.items() if k.endswith(SPEARMAN_SUFFIXES)
           and isinstance(v, int | float) and math.isfinite(v) and _fell(v, zero_shot)}
    if not low:
        return []
    shown = ", ".join(f"{k} {v:.3f}" for k, v in low.items())
    return [_finding("degenerate", "quality", f"final metrics at chance ({shown}; <= {CHANCE}) "
                     f"where the zero-shot model scored {zero_shot:.3f} on the test grid")]


def history_findings(log: pd.DataFrame | None) -> list[dict[str, str]]:
    """Evaluation metrics (the training log's Spearman columns) that ended at chance after
    reaching ``DROP`` above it during training: a collapse a cross-encoder's random zero-shot
    grid cannot reveal."""
    if log is None or getattr(log, "empty", True):
        return []
    found = []
    for column in [c for c in log.columns if str(c).endswith(SPEARMAN_SUFFIXES)]:
        values = log[["Step", column]].dropna()
        if len(values) < 2:
            continue
        best = values.loc[values[column].idxmax()]
        last = values.iloc[-1]
        if _fell(float(last[column]), float(best[column])):
            found.append(_finding("degenerate", "quality", f"{column} fell to chance during "
                                  f"training: {best[column]:.3f} at step {int(best['Step'])}, "
                                  f"{last[column]:.3f} at step {int(last['Step'])}"))
    return found


def run_health(result: Any, evaluations: Sequence[Any] = (), metrics: Mapping[str, Any] = (),
               grid_before: pd.DataFrame | None = None,
               grid_after: pd.DataFrame | None = None) -> dict[str, Any]:
    """metrics.json ``health``: ``status`` (ok / warning / degenerate), ``diagnosis`` (every
    finding, worst first), ``findings``, ``training_status``, ``checks`` (the evaluations'
    health events), ``final`` (per-layer probe of the trained model), ``collapsed_layers``."""
    found = list(getattr(result, "findings", None) or [])
    if not found and result.status != "ok" and result.diagnosis:
        found.append(_finding(result.status, "training", result.diagnosis))
    found += [_finding("degenerate", "final evaluation", ev.diagnosis)
              for ev in evaluations if ev.status != "ok" and ev.diagnosis]
    if grid_before is not None and grid_after is not None:
        found += grid_findings(grid_before, grid_after)
    found += metric_findings(dict(metrics), grid_before)
    found += history_findings(getattr(result, "log", None))
    found.sort(key=lambda f: -("ok", "warning", "degenerate").index(f["level"]))
    final = getattr(result, "final_check", None) or {}
    return {"status": worst(f["level"] for f in found),
            "diagnosis": "; ".join(f["message"] for f in found) or None, "findings": found,
            "training_status": result.status, "checks": result.health, "final": final,
            "collapsed_layers": [int(k) for k, v in final.items() if k.isdigit() and v["collapse"]],
            "thresholds": {"chance": CHANCE, "drop": DROP}}


def mark_grid(grid: pd.DataFrame, health: Mapping[str, Any]) -> pd.DataFrame:
    """``grid`` with the rows of layers whose probe collapsed marked ``degenerate`` (diagnosis:
    the collapse) so tables, plots and the card do not present them as usable."""
    out = grid.copy()
    final = health.get("final") or {}
    for column in ("status", "diagnosis"):
        out[column] = out[column].astype(object) if column in out else None
    for layer in health.get("collapsed_layers") or []:
        rows = out["layer"] == layer
        out.loc[rows, "status"] = "degenerate"
        out.loc[rows, "diagnosis"] = final[str(layer)]["collapse"]
    return out


def read_verdict(run_dir: str | Path) -> tuple[str, str]:
    """``(status, line)`` from a run folder's metrics.json: ``"verdict: ok"`` or
    ``"verdict: degenerate: <diagnosis>"``; status "unknown" when metrics.json is unreadable."""
    path = Path(run_dir) / "metrics.json"
    try:
        health = json.loads(path.read_text()).get("health") or {}
    except (OSError, ValueError, AttributeError) as err:
        return "unknown", f"verdict: unknown ({path} unreadable: {err})"
    status = health.get("status") or "unknown"
    diagnosis = health.get("diagnosis")
    return status, f"verdict: {status}" + (f": {diagnosis}" if diagnosis else "")
