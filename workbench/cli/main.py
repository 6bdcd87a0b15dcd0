"""The ``workbench`` command: thin wrappers over the library, one short function per subcommand.

To add a subcommand, write ``add_<name>(subparsers)`` that registers its parser with
``set_defaults(func=<handler>)`` and append it to ``SUBCOMMANDS``; a handler takes the parsed
``argparse.Namespace`` and returns an exit code. Bad input (a :class:`WorkbenchError` from the
library, or a usage error) is printed here, centrally, as one line ``error: ...`` with exit code 2;
an unexpected exception as one line with exit code 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from workbench.cli.cuts import add_pick, add_task_options, run_task_grid
from workbench.cli.runs import add_compare, add_run, add_sweep, positive_int, take_params
from workbench.errors import FolderError, WorkbenchError
from workbench.runs.execute import timestamped_dir

GRID_COLUMNS = ["layer", "dim", "spearman_cosine", "pearson_cosine", "latency_ms_per_1k",
                "bytes_per_vector", "status"]


def add_pickle_switch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-pickle-weights", action="store_true",
                        help="also read pytorch_model.bin (torch's restricted weights_only "
                             "unpickler) when a model has no safetensors")


# ---- grid ---------------------------------------------------------------------------------
def add_grid(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grid", help="quality and cost of every (layer, dim[, precision]) cell, "
                                    "one encode pass per text set")
    p.add_argument("model", help="model folder, Hub id or alias (minilm-l6)")
    p.add_argument("--data", default="stsb", help="dataset name or .parquet/.csv file (default stsb)")
    p.add_argument("--split", default="test", help="split (default test)")
    p.add_argument("--dims", type=int, nargs="+", help="dimensions (default: hidden size and "
                   "powers of two below it)")
    p.add_argument("--layers", type=int, nargs="+", help="layers 1..L (default all)")
    p.add_argument("--max-samples", type=positive_int, help="keep the first N pairs")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="encode precision (bf16: long corpora, several times faster on CPU)")
    p.add_argument("--no-latency", action="store_true", help="skip the per-depth timing")
    p.add_argument("--out", type=Path, help="output folder (default runs/<time>-grid-<model>)")
    add_pickle_switch(p)
    add_task_options(p)
    p.set_defaults(func=run_grid)


def run_grid(args: argparse.Namespace) -> int:
    import pandas as pd

    from workbench.data.datasets import load_dataset
    from workbench.evaluators.grid import grid
    from workbench.models.bi_encoder import BiEncoder
    from workbench.models.specs import check_cells

    if args.task:
        out = args.out or timestamped_dir("grid", args.model, *map(str, args.task))
        return run_task_grid(args, out)
    out = args.out or timestamped_dir("grid", args.model, args.data, args.split)
    if (out / "grid.csv").exists():
        raise FolderError(f"--out {out} already holds a grid.csv; give a new folder")
    check_cells(args.model, args.layers or (), args.dims or ())
    dataset = load_dataset(args.data, args.split, max_samples=args.max_samples, task="pair-score")
    encoder = BiEncoder.from_pretrained(args.model, allow_pickle_weights=args.allow_pickle_weights)
    frame = grid(encoder, dataset, dims=args.dims, layers=args.layers, precision=args.precision,
                 measure_latency=not args.no_latency)
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
    p.add_argument("model", help="model folder, Hub id or alias (minilm-l6)")
    p.add_argument("--layers", type=int, help="keep layers 1..K (or take them from --cut)")
    p.add_argument("--cut", type=int, metavar="ID",
                   help="take layers and dims from cell ID of MODEL/cuts.json (see the card)")
    p.add_argument("--dim", type=int, help="keep the first D dimensions (default all)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--batch-size", type=positive_int, default=32,
                   help="batch size of the timing encode")
    p.add_argument("--repeats", type=positive_int, default=3, help="timing repeats (best of)")
    p.add_argument("--sample", type=positive_int, default=256, help="STSB test sentences timed")
    add_pickle_switch(p)
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from workbench.models import st_format
    from workbench.models.bi_encoder import BiEncoder
    from workbench.models.cross_encoder import CrossEncoder
    from workbench.models.export import check_export_out, export_cut, sample_texts
    from workbench.models.specs import check_cells, resolve_model

    if args.cut is not None:
        from workbench.reports.cuts import read_cut

        cell = read_cut(args.model, args.cut)
        args.layers, args.dim = cell["layer"], args.dim or cell["dim"]
        print(f"cut {args.cut}: layer {cell['layer']}, dim {cell['dim']}, {cell['precision']}"
              + (f" (quantize the corpus with the same precision: {cell['bytes_per_vector']} "
                 "bytes per vector)" if cell["precision"] != "fp32" else ""))
    if args.layers is None:  # argparse's usage-error exit code
        print("error: workbench export needs --layers K (or --cut ID)", file=sys.stderr)
        return 2
    check_export_out(args.out, args.model)
    check_cells(args.model, [args.layers], [args.dim] if args.dim is not None else ())
    if st_format.is_cross_encoder(resolve_model(args.model)):  # a reranker: cut to K layers
        model = CrossEncoder.from_pretrained(args.model)
    else:
        model = BiEncoder.from_pretrained(args.model, allow_pickle_weights=args.allow_pickle_weights)
    result = export_cut(model, args.layers, args.dim, args.out, texts=sample_texts(args.sample),
                        batch_size=args.batch_size, repeats=args.repeats)
    print(result.summary())
    return 0


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [add_grid, add_export, add_pick, add_run, add_sweep,
                                                               add_compare]


class UsageError(WorkbenchError):
    """A command line argparse refuses (unknown option, missing or malformed value)."""


class Parser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` (printed as one line) instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="workbench", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (anywhere on the line)")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``workbench`` console script: errors as one line, ``--debug`` raises."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv, pairs = take_params([a for a in argv if a != "--debug"])
    try:
        args = build_parser().parse_args(argv)
        if hasattr(args, "param"):
            args.param = [*pairs, *args.param]
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except WorkbenchError as err:
        if debug:
            raise
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:  # unexpected: still one line; --debug gives the traceback
        if debug:
            raise
        print(f"error: {type(err).__name__}: {_one_line(err)} (unexpected; rerun with --debug "
              "for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
