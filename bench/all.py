"""Every ratio of the speed issue's target table in one table: the workbench against sentence-transformers.

    python bench/all.py [--model mpnet-base] [--repeats 3] [--threads 1] [--max-rows 480]
    python bench/all.py --parts encode grid           # a subset of the parts

Parts (each also runs alone; all timing goes through ``timing.py``, the roofline through
``roofline.py``): ``encode`` (``encode_vs_st``: fp32 and bf16 encode of STS-B test, interleaved
rounds, medians, share of the bf16 matmul rate measured in the same rounds), ``grid``
(``grid_vs_st``: the 6 x 5 grid against ST's per-cell way), ``train`` (``train_vs_st``: one
epoch, or the first ``--max-rows`` rows, of each experiment per seed, ``--repeats`` seeds),
``memory`` (``memory.py``: peak resident memory of every case, each in its own process). Prints
the markdown table docs/results.md quotes. Ratios are medians over repeats, measured side by
side in one process, so contention from other jobs hits both sides alike.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from types import SimpleNamespace

import timing
import torch

PARTS = ("encode", "grid", "train", "memory")
EXPERIMENTS = {"m2d": "2D Matryoshka", "bce": "BCE reranker", "adaptive": "AdaptiveLayer"}
TARGETS = {"grid": 30.0, "encode fp32": 1.5, "encode bf16": 2.0, "train": 2.5, "large m2d": 2.0}


def _row(what: str, ratio: float, target: float | None, detail: str = "", roof: str = "",
         memory: str = "") -> dict[str, str]:
    met = "" if target is None or math.isnan(ratio) else (" ✓" if ratio >= target else " ✗")
    return {"what": what, "ratio": f"{ratio:.2f}x{met}", "target": f">= {target}x" if target else "",
            "roofline": roof, "peak MB (wb / ST)": memory, "detail": detail}


def encode_rows(model: str, repeats: int, memory: dict) -> list[dict[str, str]]:
    import encode_vs_st

    res, q = encode_vs_st.run(model, repeats)
    fp32, bf16 = res["encode fp32 vs ST fp32"], res["encode bf16 vs ST fastest bf16"]
    st_bf16 = "ST bf16 autocast" if res["ST fastest bf16 is autocast"] else "ST bf16 weights"
    roof = (f"{res['workbench bf16 % bf16 matmul']:.1f}% vs {res[st_bf16 + ' % bf16 matmul']:.1f}% "
            f"of {res['bf16 matmul TFLOP/s']:.3f} TFLOP/s")
    return [
        _row("encode fp32 vs ST fp32", fp32, TARGETS["encode fp32"],
             f"{res['workbench fp32 s']:.2f} s vs {res['ST fp32 s']:.2f} s; max |diff| "
             f"{q['max |workbench fp32 - ST fp32|']:.1e}",
             f"{res['workbench fp32 % bf16 matmul']:.1f}%", memory.get("encode fp32", "")),
        _row("encode bf16 vs ST fastest bf16", bf16, TARGETS["encode bf16"],
             f"{res['workbench bf16 s']:.2f} s vs {res[st_bf16 + ' s']:.2f} s ({st_bf16}); "
             f"spearman {q['spearman workbench bf16']:.4f} vs {q['spearman ' + st_bf16]:.4f}"
             + _ceiling(res) + "; repeated texts encoded once (per text: the next row)",
             roof + " (target >= 80%)", memory.get("encode bf16", "")),
        _row("encode bf16 vs ST bf16, distinct texts (same work)",
             res["encode bf16 vs ST bf16, distinct texts"], None,
             f"{res['workbench bf16 distinct s']:.2f} s vs {res['ST bf16 distinct s']:.2f} s, "
             "each text encoded once on both sides",
             f"{res['workbench bf16 distinct % bf16 matmul']:.1f}% vs "
             f"{res['ST bf16 distinct % bf16 matmul']:.1f}%"),
    ]


def _ceiling(res: dict[str, float]) -> str:
    if "workbench bf16 GEMMs alone s" not in res:
        return ""
    return (f"; its GEMMs alone {res['workbench bf16 GEMMs alone s']:.2f} s: at most "
            f"{res['encode bf16 ceiling vs ST fastest bf16']:.2f}x with all else free")


def grid_rows(model: str, pairs: int | None) -> list[dict[str, str]]:
    import grid_vs_st

    res = grid_vs_st.run(model, pairs)
    size = f"{pairs} pairs" if pairs else "all pairs"
    return [_row(f"grid fp32 {res['grid cells']} cells vs ST per cell ({size})",
                 res["grid fp32 vs ST per cell"], TARGETS["grid"],
                 f"{res['grid workbench s']:.1f} s vs {res['grid ST s']:.1f} s; max |diff| "
                 f"{res['grid max |diff|']:.1e}")]


def train_rows(model: str, experiments: Sequence[str], max_rows: int | None, seeds: Sequence[int],
               memory: dict, large: bool) -> list[dict[str, str]]:
    import train_vs_st

    rows = []
    for name in experiments:
        res = train_vs_st.run(train_vs_st.Setup(name, model=model), max_rows, seeds)
        target = TARGETS["large m2d" if large else "train"]
        rows.append(_row(
            f"train {EXPERIMENTS[name]} bf16 vs ST bf16 ({res['rows']} rows, {len(seeds)} seeds)",
            res["ratio"], target,
            f"{res['workbench rows/s']:.1f} vs {res['ST trainer rows/s']:.1f} rows/s; delta "
            f"metric {res['delta']:+.4f} (target |delta| <= 0.005)",
            f"{res['workbench % bf16 matmul']:.1f}% vs {res['ST trainer % bf16 matmul']:.1f}%",
            memory.get(f"train {name}", "")))
    return rows


def memory_cells(model: str, threads: int, experiments: Sequence[str]) -> dict[str, str]:
    """Peak RSS per case (each its own process): ``{"encode fp32": "679 / 772", ...}``."""
    import memory

    args = SimpleNamespace(threads=threads, batch_size=64, train_steps=10, model=model)
    peak = {c: memory.run_child("encode", c, args)["peak_mb"] for c in memory.ENCODE_CASES}
    cells = {"encode fp32": f"{peak['workbench fp32']:.0f} / {peak['ST fp32']:.0f}",
             "encode bf16": f"{peak['workbench bf16']:.0f} / "
                            f"{min(peak['ST bf16 weights'], peak['ST bf16 autocast']):.0f}"}
    for name in experiments:
        ours, ref = (memory.run_child("train", f"{name} {side} bf16", args)["peak_mb"]
                     for side in ("workbench", "ST"))
        cells[f"train {name}"] = f"{ours:.0f} / {ref:.0f}"
    return cells


def native_kernels() -> str:
    """Whether the workbench side runs the native CPU kernels (workbench/fast/kernels/)."""
    from workbench.fast import native_attention, native_layer_norm

    built = native_attention.kernel() is not None and native_layer_norm.kernel() is not None
    return "native kernels " + ("on" if built else "OFF (torch ops; see the log)")


def print_markdown(rows: list[dict[str, str]]) -> None:
    keys = list(rows[0])
    print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(row[k] for k in keys) + " |")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm-l6", help="model spec (minilm-l6, mpnet-base, DIR)")
    parser.add_argument("--repeats", type=int, default=3, help="encode rounds and training seeds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on each side")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--experiments", nargs="+", default=None, choices=sorted(EXPERIMENTS),
                        help="training experiments (default: all three; m2d for a large model)")
    parser.add_argument("--max-rows", type=int, default=None, help="training rows (default all)")
    parser.add_argument("--grid-pairs", type=int, default=None, help="STS-B test pairs (default all)")
    parser.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                        help="seconds compared: wall, or process CPU time (cores shared with "
                             "other jobs: with one thread a side, CPU time is the work done)")
    args = parser.parse_args(argv)
    from workbench.models.specs import resolve_model

    torch.set_num_threads(args.threads)
    timing.CLOCK["which"] = args.clock
    model = resolve_model(args.model)
    large = args.model not in ("minilm-l6", None)
    experiments = args.experiments or (["m2d"] if large else list(EXPERIMENTS))
    print(f"model {args.model} ({model}); {args.threads} thread(s) each side; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {native_kernels()}", flush=True)
    memory = memory_cells(model, args.threads, experiments) if "memory" in args.parts else {}
    rows = []
    if "grid" in args.parts:
        rows += grid_rows(model, args.grid_pairs)
    if "encode" in args.parts:
        rows += encode_rows(model, args.repeats, memory)
    if "train" in args.parts:
        seeds = [42 + i for i in range(args.repeats)]
        rows += train_rows(model, experiments, args.max_rows, seeds, memory, large)
    print_markdown(rows)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f} (other jobs share these CPUs)")


if __name__ == "__main__":
    main()
