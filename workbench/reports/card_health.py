"""What a model card says about a run's health: the findings, the level (ok / warning /
degenerate) and which layers are usable embeddings (``runs.verdict`` wrote the health)."""

from __future__ import annotations

import math
from typing import Any

from workbench.runs.compare import RunView


def is_finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def health_reasons(run: RunView) -> list[str]:
    """What is wrong with this run, one finding per item: the health findings (or diagnosis)
    and non-finite final metrics. Empty for a healthy run."""
    health = run.health
    reasons = [f["message"] for f in health.get("findings") or []]
    if not reasons and health.get("status", "ok") != "ok":
        reasons.append(health.get("diagnosis") or f"health status '{health['status']}'")
    bad = sorted(k for k, v in run.metrics.items() if not is_finite(v))
    if bad:
        reasons.append(f"{len(bad)} of {len(run.metrics)} final metrics are NaN or infinite "
                       f"({', '.join(bad[:4])}{', ...' if len(bad) > 4 else ''})")
    return reasons


def degenerate_diagnosis(run: RunView) -> str | None:
    """Why this run must not be used (or be used with care), or None: :func:`health_reasons`."""
    return "; ".join(health_reasons(run)) or None


def health_level(run: RunView) -> str:
    """"degenerate" (metrics meaningless: none in model-index), "warning" (a health warning or
    NaN metrics: finite ones kept) or "ok"."""
    status = run.health.get("status", "ok")
    if status == "degenerate":
        return status
    return "warning" if status != "ok" or degenerate_diagnosis(run) else "ok"


def collapsed_layers(run: RunView) -> list[int]:
    """Layers whose probe embeddings collapsed (metrics.json health), or whose every grid cell
    is marked degenerate."""
    found = set(run.health.get("collapsed_layers") or [])
    if "status" in run.grid and not run.grid.empty:
        bad = run.grid.groupby("layer")["status"].agg(lambda s: (s == "degenerate").all())
        found |= {int(layer) for layer, all_bad in bad.items() if all_bad}
    return sorted(found)


def layers_note(run: RunView, level: str, num_layers: Any) -> str:
    """The card's claim about which layers are usable embeddings."""
    if level == "degenerate":
        return ("Training failed (see the warning above): none of its layers is a usable "
                "embedding.")
    bad = collapsed_layers(run)
    if not bad:
        return (f"Every one of its {num_layers} layers and every leading slice of its dimensions "
                "is a usable embedding; the layer × dimension table below says what each cut "
                "costs and keeps.")
    good = [k for k in range(1, int(num_layers or 0) + 1) if k not in bad]
    return (f"Layers {', '.join(map(str, good)) or 'none'} and the leading slices of their "
            f"dimensions are usable embeddings; layer(s) {', '.join(map(str, bad))} collapsed in "
            "training and are not (marked in the layer × dimension table below).")
