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
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import torch
from timing import Clock

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WORKBENCH_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

DIMS = (384, 256, 128, 64, 32)
LAYERS = (1, 2, 3, 4, 5, 6)


@contextlib.contextmanager
def st_cut(model, k: int) -> Iterator[None]:
    """Keep the first k BERT blocks of a SentenceTransformer (restored on exit)."""
    bert = model[0].auto_model
    blocks, depth = bert.encoder.layer, bert.config.num_hidden_layers
    bert.encoder.layer, bert.config.num_hidden_layers = torch.nn.ModuleList(blocks[:k]), k
    try:
        yield
    finally:
        bert.encoder.layer, bert.config.num_hidden_layers = blocks, depth


def st_grid(model_dir: str, test: pd.DataFrame, device: str = "cpu") -> tuple[pd.DataFrame, Clock]:
    """Per-cell reference grid (model load excluded) and its timer."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    model = SentenceTransformer(model_dir, device=device)
    s1, s2, scores = list(test.sentence1), list(test.sentence2), list(test.score)
    rows = []
    with Clock(device) as timer:
        for k in LAYERS:
            with st_cut(model, k):
                for dim in DIMS:
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
        frame = grid(encoder, test, dims=DIMS, layers=LAYERS, precision=precision,
                     measure_latency=measure_latency)
    return frame, timer


def max_diff(ours: pd.DataFrame, ref: pd.DataFrame) -> float:
    """Largest |difference| over cells of spearman_cosine and pearson_cosine."""
    merged = ours.merge(ref, on=["layer", "dim"], suffixes=("", "_ref"), validate="1:1")
    assert len(merged) == len(LAYERS) * len(DIMS), "cells differ"
    return max((merged[c] - merged[f"{c}_ref"]).abs().max()
               for c in ("spearman_cosine", "pearson_cosine"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (reference: 2)")
    parser.add_argument("--bf16", action="store_true", help="also time the workbench in bf16")
    parser.add_argument("--latency", action="store_true", help="also time measure_latency=True")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--model", default=None, help="model folder (default all-MiniLM-L6-v2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from workbench.data.datasets import load_dataset
    from workbench.models.specs import packaged_model_dir

    model_dir, dev = args.model or str(packaged_model_dir()), args.device
    test = load_dataset("stsb", "test").to_pandas()
    print(f"all-MiniLM-L6-v2, STS-B test ({len(test):,} pairs), {len(LAYERS)} layers x "
          f"{len(DIMS)} dims, torch {torch.__version__}, {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if dev == "cuda":  # untimed warm-up of both ways: CUDA context, kernels, allocator
        our_grid(model_dir, test, device=dev)
        st_grid(model_dir, test.head(64), device=dev)
    ours, t1 = our_grid(model_dir, test, device=dev)
    print(f"workbench grid, fp32, one pass:   {t1}", flush=True)
    ref, t_ref = st_grid(model_dir, test, device=dev)
    print(f"sentence-transformers 6.2 per cell: {t_ref}")
    again, t2 = our_grid(model_dir, test, device=dev)
    print(f"workbench grid again (after):     {t2}")
    wall, cpu = (t1.wall + t2.wall) / 2, (t1.cpu + t2.cpu) / 2
    print(f"ratio (reference / mean of the two workbench runs): {t_ref.wall / wall:.1f}x wall, "
          f"{t_ref.cpu / cpu:.1f}x CPU time")
    print(f"max |diff| over 30 cells (spearman & pearson cosine): {max_diff(ours, ref):.2e} "
          f"(second run {max_diff(again, ref):.2e})")
    if args.bf16:
        bf16, t_bf16 = our_grid(model_dir, test, precision="bf16", device=dev)
        print(f"workbench grid, bf16 autocast:    {t_bf16}  ratio {t_ref.wall / t_bf16.wall:.1f}x "
              f"wall; max |diff| vs the fp32 reference {max_diff(bf16, ref):.2e}")
    if args.latency:
        timed, t_lat = our_grid(model_dir, test, measure_latency=True, device=dev)
        print(f"workbench grid + latency per depth: {t_lat}  ratio {t_ref.wall / t_lat.wall:.1f}x wall")
        print(timed.groupby("layer").latency_ms_per_1k.first().round(0).to_string())
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other jobs share these CPUs)")


if __name__ == "__main__":
    main()
