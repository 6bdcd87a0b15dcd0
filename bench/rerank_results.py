"""Markdown tables of the reranker runs for docs/results.md: per-depth STSB test quality of the
plain and the adaptive reranker over seeds, and a rerank_pipeline run's pipelines.

    python bench/rerank_results.py RUN_DIR [RUN_DIR ...]

Run folders of ``bce_reranker`` are grouped by ``variant`` and head (:func:`run_label`); a ``rerank_pipeline`` folder prints
its ``pipelines.csv`` and the cheapest pipeline within 1% and 5% of the best.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd


def run_label(parameters: dict, model: dict | None = None) -> str:
    """``variant`` plus what its head read: ``plain``, ``adaptive/cls`` (the first version),
    ``adaptive/mean`` (mean-pooled head), ``adaptive/segments`` (the two texts compared), with
    the head's learning-rate multiple. The pooling recorded in ``metrics.json`` ``model`` wins
    (``auto`` meant ``mean`` before the segment head became the adaptive default)."""
    from workbench.losses.adaptive_layer_ce import reranker_pooling

    variant = parameters.get("variant", "plain")
    pooling = (model or {}).get("pooling") or reranker_pooling(variant, parameters.get("pooling", "cls"))
    if variant == "plain" and pooling == "cls":
        return "plain"
    scale = parameters.get("head_lr_scale", 1.0) if variant == "adaptive" else 1.0
    prior = parameters.get("prior_layers_weight", 1.0) if variant == "adaptive" else 1.0
    return (f"{variant}/{pooling}" + (f" {scale:g}x head lr" if scale != 1.0 else "")
            + (f" prior x{prior:g}" if prior != 1.0 else ""))


def stsb_table(runs: list[Path]) -> str:
    """Mean (± sd over seeds) STSB-test Spearman and acc@0.5 per depth, one column per label."""
    rows = []
    for run in runs:
        info = json.loads((run / "metrics.json").read_text())
        grid = pd.read_csv(run / "grid.csv")
        grid["label"] = run_label(info["parameters"], info.get("model"))
        grid["seed"] = info["parameters"]["seed"]
        rows.append(grid)
    frame = pd.concat(rows)
    stats = frame.groupby(["label", "layer"]).agg(
        spearman=("spearman", "mean"), sd=("spearman", "std"), seeds=("seed", "nunique"),
        accuracy=("accuracy_at_0.5", "mean")).reset_index()
    labels = sorted(stats["label"].unique(), key=lambda x: (x != "plain", x))
    head = [f"{label} spearman" for label in labels] + [f"{label} acc@0.5" for label in labels]
    lines = ["| layers kept | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for layer in sorted(stats["layer"].unique()):
        cells = []
        for metric in ("spearman", "accuracy"):
            for label in labels:
                hit = stats[(stats["label"] == label) & (stats["layer"] == layer)]
                if hit.empty:
                    cells.append("—")
                    continue
                row = hit.iloc[0]
                sd = f" ± {row['sd']:.4f}" if metric == "spearman" and row["seeds"] > 1 else ""
                cells.append(f"{row[metric]:.4f}{sd}")
        lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    seeds = {k: sorted(int(s) for s in v) for k, v in frame.groupby("label")["seed"].unique().items()}
    return "\n".join(lines) + "\n\nseeds: " + "; ".join(f"{k} {v}" for k, v in seeds.items())


def pipeline_table(run: Path) -> str:
    from workbench.evaluators.pareto import cheapest_pipeline
    from workbench.reports.card_tables import md_table

    frame = pd.read_csv(run / "pipelines.csv")
    cols = ["layer", "dim", "rerank_depth", "ndcg@10", "mrr@10", "encode_ms", "search_ms",
            "rerank_ms", "latency_ms_per_query"]
    text = md_table(cols, [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row]
                           for row in frame[cols].itertuples(index=False)])
    for tol in (0.01, 0.05):
        best = cheapest_pipeline(frame, tol)
        text += (f"\n\ncheapest within {tol:.0%} of the best nDCG@10: layer {int(best['layer'])}, "
                 f"dim {int(best['dim'])}, reranker depth {int(best['rerank_depth'])}: nDCG@10 "
                 f"{best['ndcg@10']:.4f}, {best['latency_ms_per_query']:.1f} ms per query")
    return text


def main() -> None:
    runs = [Path(p) for p in sys.argv[1:]]
    stsb = [r for r in runs if (r / "grid.csv").exists() and not (r / "pipelines.csv").exists()]
    if stsb:
        print(stsb_table(stsb))
    for run in runs:
        if (run / "pipelines.csv").exists():
            print(f"\n{run.name}\n" + pipeline_table(run))


if __name__ == "__main__":
    main()
