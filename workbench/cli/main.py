"""The ``workbench`` command: thin wrappers over the library, one short function per subcommand.

To add a subcommand, write ``add_<name>(subparsers)`` that registers its parser with
``set_defaults(func=<handler>)`` and append it to ``SUBCOMMANDS``; a handler takes the parsed
``argparse.Namespace`` and returns an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from workbench.cli.runs import add_compare, add_run, add_sweep
from workbench.runs.execute import timestamped_dir

GRID_COLUMNS = ["layer", "dim", "spearman_cosine", "pearson_cosine", "latency_ms_per_1k",
                "bytes_per_vector", "status"]


# ---- grid ---------------------------------------------------------------------------------
def add_grid(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grid", help="Spearman (cosine) of every (layer, dim) cell, one encode pass")
    p.add_argument("model", help="model folder, Hub id or alias (minilm-l6)")
    p.add_argument("--data", default="stsb", help="dataset name or .parquet/.csv file (default stsb)")
    p.add_argument("--split", default="test", help="split (default test)")
    p.add_argument("--dims", type=int, nargs="+", help="dimensions (default: hidden size and "
                   "powers of two below it)")
    p.add_argument("--layers", type=int, nargs="+", help="layers 1..L (default all)")
    p.add_argument("--max-samples", type=int, help="keep the first N pairs")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--no-latency", action="store_true", help="skip the per-depth timing")
    p.add_argument("--out", type=Path, help="output folder (default runs/<time>-grid-<model>)")
    p.set_defaults(func=run_grid)


def run_grid(args: argparse.Namespace) -> int:
    import pandas as pd

    from workbench.data.datasets import load_dataset
    from workbench.evaluators.grid import grid
    from workbench.models.bi_encoder import BiEncoder

    dataset = load_dataset(args.data, args.split, max_samples=args.max_samples)
    encoder = BiEncoder.from_pretrained(args.model)
    frame = grid(encoder, dataset, dims=args.dims, layers=args.layers, precision=args.precision,
                 measure_latency=not args.no_latency)
    out = args.out or timestamped_dir("grid", args.model, args.data, args.split)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "grid.csv", index=False)
    with pd.option_context("display.width", 120, "display.max_rows", 500):
        print(frame[[c for c in GRID_COLUMNS if c in frame.columns]].to_string(index=False))
    print(f"wrote {out / 'grid.csv'}")
    return 0


# ---- export -------------------------------------------------------------------------------
def add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="standalone model of the first K layers and first D dims "
                                         "(a cross-encoder: the first K layers)")
    p.add_argument("model", help="model folder, Hub id or alias (minilm-l6); bi- or cross-encoder")
    p.add_argument("--layers", type=int, required=True, help="keep layers 1..K")
    p.add_argument("--dim", type=int, help="keep the first D dimensions (default all)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--batch-size", type=int, default=32, help="batch size of the timing encode")
    p.add_argument("--repeats", type=int, default=3, help="timing repeats (best of)")
    p.add_argument("--sample", type=int, default=256, help="STSB test sentences timed")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from workbench.models.export import export_cut, sample_texts

    result = export_cut(args.model, args.layers, args.dim, args.out, texts=sample_texts(args.sample),
                        batch_size=args.batch_size, repeats=args.repeats)
    print(result.summary())
    return 0


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [add_grid, add_export, add_run, add_sweep,
                                                               add_compare]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``workbench`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
