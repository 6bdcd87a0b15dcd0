"""Layer x dim grid on STS-B test: the workbench's one pass against sentence-transformers per cell.

Reference way (what a sentence-transformers 6.2 user does): for each depth k cut the encoder to
its first k blocks, then for each dim run ``EmbeddingSimilarityEvaluator(truncate_dim=dim)``,
which encodes both columns again. Workbench way: ``grid()`` encodes the distinct texts once with
every hidden state and slices dims. Both run here, in one process, on the same threads; the
script prints both times (wall and process CPU; the workbench runs before and after the
reference to bracket drifting load from other jobs), the ratio and the largest |difference|.

    python bench/grid_vs_st.py [--threads 2] [--bf16] [--latency] [--device cuda] [--model DIR]

``--bf16`` adds a workbench run under bf16 autocast (its values are compared too, but the
equal-values claim is for fp32). ``--latency`` also times ``grid(measure_latency=True)``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd
import torch
from timing import CLOCK, Clock, seconds

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WORKBENCH_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

def cells(model_dir: str) -> tuple[list[int], list[int]]:
    """All layers, and the hidden size then powers of two below it: five dims (384 -> 32)."""
    from transformers import AutoConfig

    from workbench.evaluators.grid import default_dims

    cfg = AutoConfig.from_pretrained(model_dir)
    layers = getattr(cfg, "num_hidden_layers", None) or cfg.n_layers
    return list(range(1, layers + 1)), default_dims(getattr(cfg, "hidden_size", None) or cfg.dim)[:5]


def st_grid(model_dir: str, test: pd.DataFrame, device: str = "cpu") -> tuple[pd.DataFrame, Clock]:
    """Per-cell reference grid (model load excluded) and its timer: each depth k cut with
    the workbench's ``cut_blocks``, each dim by ``truncate_dim``."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    from workbench.evaluators.grid import cut_blocks

    model = SentenceTransformer(model_dir, device=device)
    layers, dims = cells(model_dir)
    s1, s2, scores = list(test.sentence1), list(test.sentence2), list(test.score)
    rows = []
    with Clock(device) as timer:
        for k in layers:
            with cut_blocks(model[0].auto_model, k):
                for dim in dims:
                    res = EmbeddingSimilarityEvaluator(s1, s2, scores, main_similarity="cosine",
                                                       truncate_dim=dim, write_csv=False)(model)
                    rows.append({"layer": k, "dim": dim, "spearman_cosine": res["spearman_cosine"],
                                 "pearson_cosine": res["pearson_cosine"]})
            print(f"  reference: depth {k} done, {time.perf_counter() - timer.wall:.0f} s", flush=True)
    return pd.DataFrame(rows), timer


def our_grid(model_dir: str, test: pd.DataFrame, precision: str = "fp32",
             measure_latency: bool = False, device: str = "cpu") -> tuple[pd.DataFrame, Clock]:
    """The workbench grid (model load excluded) and its timer."""
    from workbench.evaluators import grid
    from workbench.models.bi_encoder import BiEncoder

    encoder = BiEncoder.from_pretrained(model_dir).to(device)
    with Clock(device) as timer:
        layers, dims = cells(model_dir)
        frame = grid(encoder, test, dims=dims, layers=layers, precision=precision,
                     measure_latency=measure_latency)
    return frame, timer


def max_diff(ours: pd.DataFrame, ref: pd.DataFrame) -> float:
    """Largest |difference| over cells of spearman_cosine and pearson_cosine."""
    merged = ours.merge(ref, on=["layer", "dim"], suffixes=("", "_ref"), validate="1:1")
    assert len(merged) == len(ours) == len(ref), "cells differ"
    return max((merged[c] - merged[f"{c}_ref"]).abs().max()
               for c in ("spearman_cosine", "pearson_cosine"))


def run(model_dir: str, pairs: int | None = None, device: str = "cpu", bf16: bool = False,
        latency: bool = False) -> dict[str, float]:
    """Workbench grid, ST's per-cell grid, workbench again (bracketing drifting load); the ratio
    of the reference to the mean of the two workbench runs, and the largest |difference|."""
    from workbench.data.datasets import load_dataset

    test = load_dataset("stsb", "test").to_pandas()
    test = test.head(pairs) if pairs else test
    layers, dims = cells(model_dir)
    print(f"{Path(model_dir).name}, STS-B test ({len(test):,} pairs), {len(layers)} layers x "
          f"{len(dims)} dims, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    if device == "cuda":  # untimed warm-up of both ways: CUDA context, kernels, allocator
        our_grid(model_dir, test, device=device)
        st_grid(model_dir, test.head(64), device=device)
    ours, t1 = our_grid(model_dir, test, device=device)
    print(f"workbench grid, fp32, one pass:   {t1}", flush=True)
    ref, t_ref = st_grid(model_dir, test, device=device)
    print(f"sentence-transformers 6.2 per cell: {t_ref}")
    again, t2 = our_grid(model_dir, test, device=device)
    print(f"workbench grid again (after):     {t2}")
    wall = (seconds(t1) + seconds(t2)) / 2  # CLOCK["which"] seconds
    out = {"grid fp32 vs ST per cell": seconds(t_ref) / wall, "grid workbench s": wall,
           "grid ST s": seconds(t_ref), "grid max |diff|": max(max_diff(ours, ref), max_diff(again, ref)),
           "grid cells": len(layers) * len(dims)}
    print(f"ratio ({CLOCK['which']} s, reference / mean of the two workbench runs): "
          f"{out['grid fp32 vs ST per cell']:.1f}x"
          f" wall, {t_ref.cpu / ((t1.cpu + t2.cpu) / 2):.1f}x CPU time; max |diff| over "
          f"{len(ours)} cells (spearman & pearson cosine): {out['grid max |diff|']:.2e}")
    if bf16:
        frame, t_bf16 = our_grid(model_dir, test, precision="bf16", device=device)
        out.update({"grid bf16 vs ST per cell": seconds(t_ref) / seconds(t_bf16),
                    "grid bf16 max |diff|": max_diff(frame, ref)})
        print(f"workbench grid, bf16:    {t_bf16}  ratio {out['grid bf16 vs ST per cell']:.1f}x")
    if latency:
        for precision in ("fp32", "bf16"):
            timed, t_lat = our_grid(model_dir, test, precision, measure_latency=True, device=device)
            out[f"grid {precision} + latency vs ST per cell"] = seconds(t_ref) / seconds(t_lat)
            print(f"workbench grid {precision} + latency per depth: {t_lat}  ratio "
                  f"{seconds(t_ref) / seconds(t_lat):.1f}x\n"
                  + timed.groupby("layer").latency_ms_per_1k.first().round(0).to_string())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (reference: 2)")
    parser.add_argument("--bf16", action="store_true", help="also time the workbench in bf16")
    parser.add_argument("--latency", action="store_true", help="also time measure_latency=True")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--model", default=None, help="model spec (default all-MiniLM-L6-v2)")
    parser.add_argument("--pairs", type=int, default=None, help="first N test pairs (default all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from workbench.models.specs import resolve_model

    run(resolve_model(args.model or "minilm-l6"), args.pairs, args.device, args.bf16, args.latency)
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other jobs share these CPUs)")


if __name__ == "__main__":
    main()
