"""``workbench grid --task ...`` (the cuts table) and ``workbench pick`` (registered in ``main``)."""

from __future__ import annotations

import argparse
from pathlib import Path

CUTS_COLUMNS = ["task", "layer", "dim", "precision", "rescore", "score", "quality_retained",
                "latency_ms_per_1k", "search_ms_per_query", "bytes_per_vector", "status"]


def add_task_options(p: argparse.ArgumentParser) -> None:
    """The task-grid options of ``workbench grid``."""
    p.add_argument("--task", nargs="+", metavar="TASK",
                   help="evaluation tasks: stsb, sickr, sts12..sts16, scifact, NanoSciFact..., the "
                        "suites sts-suite / retrieval, or a path (pair file or folder, BEIR/MTEB "
                        "folder); writes cuts.csv (without --task: the STS grid of --data/--split)")
    p.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "int8", "binary"],
                   help="embedding precisions of the cells (default fp32)")
    p.add_argument("--rescore", type=int, default=0, metavar="R",
                   help="also re-score the quantized top 100 R with the fp32 query (retrieval)")
    p.add_argument("--max-queries", type=int, help="retrieval: keep the first N queries")
    p.add_argument("--max-corpus", type=int, help="retrieval: keep N documents (the relevant ones first)")
    p.add_argument("--calibration", help="a text file (one text a line) calibrating int8 "
                                         "(default: each task's corpus / sentences)")


def run_task_grid(args: argparse.Namespace, out: Path) -> int:
    """Encode once per text set, write ``cuts.csv`` (+ ``cuts.json``) and print the table."""
    import pandas as pd

    from workbench.data.tasks import load_tasks
    from workbench.evaluators.task_grid import task_grid
    from workbench.models.bi_encoder import BiEncoder

    tasks = load_tasks(args.task, max_pairs=args.max_samples, max_queries=args.max_queries,
                       max_corpus=args.max_corpus)
    calibration = (Path(args.calibration).read_text(encoding="utf-8").splitlines()
                   if args.calibration else None)
    encoder = BiEncoder.from_pretrained(args.model)
    frame = task_grid(encoder, tasks, dims=args.dims, layers=args.layers, precisions=args.precisions,
                      rescore=args.rescore, encode_precision=args.precision,
                      measure_latency=not args.no_latency, calibration=calibration)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "cuts.csv", index=False)
    with pd.option_context("display.width", 160, "display.max_rows", 2000):
        print(frame[[c for c in CUTS_COLUMNS if c in frame]].to_string(
            index=False, float_format=lambda v: f"{v:.4g}"))
    for name, t in frame.attrs["tasks"].items():
        print(f"{name}: {t['total']:.1f} s in all = {t['total'] / t['encode']:.2f} x its one encode "
              f"({t['encode']:.1f} s; cells {t['encode_and_cells'] - t['encode']:.1f} s, "
              f"encode latency per depth {t['latency']:.1f} s)")
    print(f"grid {frame.attrs['seconds']:.1f} s")
    print(f"wrote {out / 'cuts.csv'}")
    return 0


def add_pick(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pick", help="the cheapest cell keeping enough quality, and the Pareto front")
    p.add_argument("table", type=Path, help="a run or grid folder, or its cuts.csv / grid.csv")
    p.add_argument("--task", default=None, help="task to judge by (default: the table's only or first)")
    p.add_argument("--min-retained", type=float, default=0.95,
                   help="quality kept vs the full fp32 model, e.g. 0.95")
    p.add_argument("--minimize", default="latency", choices=["latency", "bytes", "search"])
    p.set_defaults(func=run_pick)


def run_pick(args: argparse.Namespace) -> int:
    from workbench.evaluators.pick import describe, pick, read_cuts

    table = read_cuts(args.table)
    task = args.task or str(table["task"].iloc[0])
    result = pick(table, task, args.min_retained, args.minimize)
    print(describe(result))
    return 0 if result.cell is not None else 1
