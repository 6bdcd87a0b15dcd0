"""Layer x dim grid on STS-B test: the workbench's one pass against sentence-transformers per cell.

Reference way (what a sentence-transformers 6.2 user does): for each depth k cut the encoder to
its first k blocks, then for each dim run ``EmbeddingSimilarityEvaluator(truncate_dim=dim)``,
which encodes both columns again. Workbench way: ``grid()`` encodes the distinct texts once with
every hidden state and slices dims. Both run here, in one process, on the same threads; the
script prints both times (wall and process CPU; the workbench runs before and after the
reference to bracket drifting load from other jobs), the ratio and the largest |difference|.

    python bench/grid_vs_st.py [--threads 2] [--bf16] [--latency] [--device cuda] [--model DIR]
    python bench/grid_vs_st.py --model mpnet-base --dims 768 512 256 128 64 --once-per-depth
    python bench/grid_vs_st.py --threads 1 --clock cpu --max-pairs 300   # CPU-time ratio

``run()`` is what ``bench/all.py`` calls; ``cells()`` gives a model's default layers and dims.

``--model`` takes a folder or an alias (``mpnet-base``: all-mpnet-base-v2, ``make setup-large``);
the layers default to all of the model's. ``--once-per-depth`` makes the reference encode each
cut model once and slice every dim from that encoding (what ``truncate_dim`` does), computing
cosine Spearman/Pearson as ``EmbeddingSimilarityEvaluator`` does: the same values, 5x cheaper.

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
from timing import CLOCK, Clock, seconds

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WORKBENCH_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

DIMS = (384, 256, 128, 64, 32)
LAYERS = (1, 2, 3, 4, 5, 6)


def cells(model_dir: str) -> tuple[list[int], list[int]]:
    """All layers, and the hidden size then powers of two below it: five dims (384 -> 32)."""
    from transformers import AutoConfig

    from workbench.evaluators.grid import default_dims

    cfg = AutoConfig.from_pretrained(model_dir)
    layers = getattr(cfg, "num_hidden_layers", None) or cfg.n_layers
    return list(range(1, layers + 1)), default_dims(getattr(cfg, "hidden_size", None) or cfg.dim)[:5]


@contextlib.contextmanager
def st_cut(model, k: int) -> Iterator[None]:
    """Keep the first k blocks of a SentenceTransformer's encoder (restored on exit)."""
    from workbench.evaluators.grid import cut_blocks

    with cut_blocks(model[0].auto_model, k):
        yield


def _cell_once(model, s1: list[str], s2: list[str], scores: list[float],
               dims: tuple[int, ...]) -> dict[int, dict]:
    """One encoding of the cut model, every dim sliced from it; cosine as ST's evaluator."""
    from scipy.stats import pearsonr, spearmanr

    texts = list(dict.fromkeys(s1 + s2))
    emb = dict(zip(texts, model.encode(texts, convert_to_tensor=True).float().cpu(), strict=True))
    a, b = torch.stack([emb[t] for t in s1]), torch.stack([emb[t] for t in s2])
    out = {}
    for dim in dims:
        cos = torch.nn.functional.cosine_similarity(a[:, :dim], b[:, :dim]).numpy()
        out[dim] = {"spearman_cosine": spearmanr(scores, cos)[0],
                    "pearson_cosine": pearsonr(scores, cos)[0]}
    return out


def st_grid(model_dir: str, test: pd.DataFrame, device: str = "cpu", once_per_depth: bool = False,
            dims: tuple[int, ...] = DIMS, layers: tuple[int, ...] = LAYERS
            ) -> tuple[pd.DataFrame, Clock]:
    """Per-cell reference grid (model load excluded) and its timer."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    model = SentenceTransformer(model_dir, device=device)
    s1, s2, scores = list(test.sentence1), list(test.sentence2), list(test.score)
    rows = []
    with Clock(device) as timer:
        for k in layers:
            with st_cut(model, k):
                if once_per_depth:
                    rows += [{"layer": k, "dim": d, **r}
                             for d, r in _cell_once(model, s1, s2, scores, dims).items()]
                for dim in dims if not once_per_depth else ():
                    res = EmbeddingSimilarityEvaluator(s1, s2, scores, main_similarity="cosine",
                                                       truncate_dim=dim, write_csv=False)(model)
                    rows.append({"layer": k, "dim": dim, "spearman_cosine": res["spearman_cosine"],
                                 "pearson_cosine": res["pearson_cosine"]})
            print(f"  reference: depth {k} done, {time.perf_counter() - timer.wall:.0f} s", flush=True)
    return pd.DataFrame(rows), timer


def our_grid(model_dir: str, test: pd.DataFrame, precision: str = "fp32",
             measure_latency: bool = False, device: str = "cpu", dims: tuple[int, ...] = DIMS,
             layers: tuple[int, ...] = LAYERS) -> tuple[pd.DataFrame, Clock]:
    """The workbench grid (model load excluded) and its timer."""
    from workbench.evaluators import grid
    from workbench.models.bi_encoder import BiEncoder

    encoder = BiEncoder.from_pretrained(model_dir).to(device)
    with Clock(device) as timer:
        frame = grid(encoder, test, dims=dims, layers=layers, precision=precision,
                     measure_latency=measure_latency)
    return frame, timer


def max_diff(ours: pd.DataFrame, ref: pd.DataFrame) -> float:
    """Largest |difference| over cells of spearman_cosine and pearson_cosine."""
    merged = ours.merge(ref, on=["layer", "dim"], suffixes=("", "_ref"), validate="1:1")
    assert len(merged) == len(ref) == len(ours), "cells differ"
    return max((merged[c] - merged[f"{c}_ref"]).abs().max()
               for c in ("spearman_cosine", "pearson_cosine"))


def run(model_dir: str, pairs: int | None = None, device: str = "cpu", bf16: bool = False,
        latency: bool = False, once_per_depth: bool = False, single: bool = False,
        dims: tuple[int, ...] | None = None, layers: tuple[int, ...] | None = None
        ) -> dict[str, float]:
    """Workbench grid, ST's per-cell grid, workbench again (bracketing drifting load, unless
    ``single``); the ratio (``timing.CLOCK`` seconds) of the reference to the mean of the
    workbench runs, and the largest |difference| over cells."""
    from workbench.data.datasets import load_dataset

    all_layers, all_dims = cells(model_dir)
    grid_cells = {"dims": tuple(dims or all_dims), "layers": tuple(layers or all_layers)}
    test = load_dataset("stsb", "test", max_samples=pairs).to_pandas()
    print(f"{Path(model_dir).name}, STS-B test ({len(test):,} pairs), {len(grid_cells['layers'])} "
          f"layers x {len(grid_cells['dims'])} dims, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs", flush=True)
    if device == "cuda":  # untimed warm-up of both ways: CUDA context, kernels, allocator
        our_grid(model_dir, test, device=device, **grid_cells)
        st_grid(model_dir, test.head(64), device=device, **grid_cells)
    ours, t1 = our_grid(model_dir, test, device=device, **grid_cells)
    print(f"workbench grid, fp32, one pass:   {t1}", flush=True)
    ref, t_ref = st_grid(model_dir, test, device=device, once_per_depth=once_per_depth,
                         **grid_cells)
    print(f"sentence-transformers 6.2 per cell: {t_ref}", flush=True)
    again, t2 = (ours, t1) if single else our_grid(model_dir, test, device=device, **grid_cells)
    if not single:
        print(f"workbench grid again (after):     {t2}")
    mean = (seconds(t1) + seconds(t2)) / 2
    out = {"grid fp32 vs ST per cell": seconds(t_ref) / mean, "grid workbench s": mean,
           "grid ST s": seconds(t_ref), "grid cells": len(ref),
           "grid max |diff|": max(max_diff(ours, ref), max_diff(again, ref))}
    print(f"ratio ({CLOCK['which']} s, reference / mean of the workbench runs): "
          f"{out['grid fp32 vs ST per cell']:.1f}x ({t_ref.wall / ((t1.wall + t2.wall) / 2):.1f}x "
          f"wall, {t_ref.cpu / ((t1.cpu + t2.cpu) / 2):.1f}x CPU time); max |diff| over "
          f"{len(ref)} cells (spearman & pearson cosine): {out['grid max |diff|']:.2e}")
    if bf16:
        frame, t_bf16 = our_grid(model_dir, test, precision="bf16", device=device, **grid_cells)
        out.update({"grid bf16 vs ST per cell": seconds(t_ref) / seconds(t_bf16),
                    "grid bf16 max |diff|": max_diff(frame, ref)})
        print(f"workbench grid, bf16:    {t_bf16}  ratio {out['grid bf16 vs ST per cell']:.1f}x; "
              f"max |diff| vs the fp32 reference {out['grid bf16 max |diff|']:.2e}")
    for precision in ("fp32", "bf16") if latency else ():
        timed, t_lat = our_grid(model_dir, test, precision, measure_latency=True, device=device,
                                **grid_cells)
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
    parser.add_argument("--model", default="minilm-l6", help="folder or alias (default minilm-l6)")
    parser.add_argument("--dims", type=int, nargs="+", help="default: hidden size and 4 halvings")
    parser.add_argument("--layers", type=int, nargs="+", help="default: every layer")
    parser.add_argument("--max-pairs", type=int, help="only the first N STS-B test pairs")
    parser.add_argument("--single", action="store_true",
                        help="run the workbench grid once (no second, bracketing run)")
    parser.add_argument("--once-per-depth", action="store_true",
                        help="reference: one encoding per depth, dims sliced (same values)")
    parser.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                        help="seconds in the ratio: wall, or process CPU time (shared cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    CLOCK["which"] = args.clock
    from workbench.models.specs import resolve_model

    run(resolve_model(args.model), args.max_pairs, args.device, args.bf16, args.latency,
        args.once_per_depth, args.single, args.dims and tuple(args.dims),
        args.layers and tuple(args.layers))
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other jobs share these CPUs)")


if __name__ == "__main__":
    main()
