"""``workbench run``, ``workbench sweep`` and ``workbench compare`` (registered in ``cli.py``)."""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workbench.runs import execute as runs
from workbench.runs.record import status_line


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", help="notebook name: adaptive_layer, matryoshka_2d, bce_reranker")
    p.add_argument("-p", "--param", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"), help="set a notebook parameter (repeatable)")
    p.add_argument("--quiet", action="store_true",
                   help="do not print the cells and the training progress as the run goes")
    p.add_argument("--log-output", action="store_true",
                   help="also stream the notebook's own output (prints, bars) to the terminal")


def add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="execute an experiment notebook into a run folder")
    _add_common(p)
    p.add_argument("--preset", default="cpu", help="parameter preset (smoke, cpu, seed-00N)")
    p.add_argument("--out", type=Path, help="run folder (default runs/<time>-<exp>-<preset>)")
    p.add_argument("--resume", type=Path, metavar="DIR",
                   help="re-run a failed/interrupted run folder from its last checkpoint")
    p.set_defaults(func=run_run)


def overrides(experiment: str, pairs: Sequence[Sequence[str]]) -> dict[str, Any]:
    """``-p NAME VALUE`` pairs as typed values; unknown names raise UnknownParameterError."""
    declared = runs.declared_parameters(experiment)
    runs.check_names(experiment, [name for name, _ in pairs])
    return {name: runs.parse_value(value, declared[name]["inferred_type_name"])
            for name, value in pairs}


def _execute(args: argparse.Namespace, params: dict[str, Any], out: Path | None = None,
             resume: Path | None = None) -> Path | None:
    try:
        run_dir = runs.execute(args.experiment, args.preset, params, out=out, resume=resume,
                               progress=not args.quiet, stream_output=args.log_output)
    except runs.RunInterrupted as err:
        print(f"interrupted: {err}", file=sys.stderr)
        raise SystemExit(143 if isinstance(err.__cause__, runs.attempt.Terminated)
                         else 130) from None
    except (runs.RunFailed, runs.RunLockedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return None
    print(f"run folder: {run_dir}")
    return run_dir


def run_run(args: argparse.Namespace) -> int:
    try:
        params = overrides(args.experiment, args.param)
        runs.notebook_path(args.experiment)
        if args.resume is None:
            runs.load_preset(args.experiment, args.preset)
    except (runs.UnknownParameterError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.resume is not None and (note := status_line(args.resume)):
        print(f"resuming {args.resume}: {note}")
    return 0 if _execute(args, params, args.out, args.resume) else 1


def add_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run an experiment over a grid of parameter values")
    _add_common(p)
    p.add_argument("--preset", required=True, help="parameter preset every run starts from")
    p.add_argument("--grid", action="append", required=True, metavar="NAME=V1,V2",
                   help="values to sweep (repeatable; all combinations run; lists in [...])")
    p.add_argument("--out", type=Path, help="where the comparison table goes "
                   "(default runs/<time>-sweep-<exp>-<preset>)")
    p.set_defaults(func=run_sweep)


def split_values(text: str) -> list[str]:
    """``"1,2,[3,4]"`` -> ``["1", "2", "[3,4]"]`` (commas inside brackets stay)."""
    values, depth, current = [], 0, ""
    for char in text:
        depth += char in "[(" and 1 or (char in "])" and -1 or 0)
        if char == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += char
    return [*values, current.strip()] if current.strip() else values


def sweep_points(experiment: str, grid: Sequence[str]) -> list[dict[str, Any]]:
    """Every combination of ``NAME=V1,V2`` values, typed like ``-p``."""
    axes = []
    for item in grid:
        name, sep, values = item.partition("=")
        if not sep or not values:
            raise ValueError(f"--grid expects NAME=V1,V2, got '{item}'")
        axes.append([(name.strip(), v) for v in split_values(values)])
    return [overrides(experiment, combo) for combo in itertools.product(*axes)]


def run_sweep(args: argparse.Namespace) -> int:
    try:
        fixed = overrides(args.experiment, args.param)
        points = sweep_points(args.experiment, args.grid)
    except (runs.UnknownParameterError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    done, failed = [], 0
    for i, point in enumerate(points, 1):
        print(f"[{i}/{len(points)}] {args.experiment} {point}")
        run_dir = _execute(args, {**fixed, **point})
        done += [run_dir] if run_dir else []
        failed += run_dir is None
    out = args.out or runs.timestamped_dir("sweep", args.experiment, args.preset)
    if done:
        _write_comparison(done, out)
    print(f"{len(done)} run(s) finished, {failed} failed")
    return 1 if failed else 0


def add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="put run folders side by side (parameters, metrics)")
    p.add_argument("runs", nargs="+", type=Path, help="run folders")
    p.add_argument("--out", type=Path, help="folder for the tables (default runs/<time>-compare)")
    p.set_defaults(func=run_compare)


def _write_comparison(run_dirs: Sequence[Path], out: Path) -> None:
    import pandas as pd

    from workbench.runs.compare import compare_runs

    tables = compare_runs(run_dirs)
    out.mkdir(parents=True, exist_ok=True)
    with pd.option_context("display.width", 160, "display.max_columns", 50,
                           "display.max_colwidth", 40):
        for name, table in tables.items():
            table.to_csv(out / f"{name}.csv")
            print(f"\n== {name}\n{table.to_string()}")
    print(f"\ntables written to {out}")


def run_compare(args: argparse.Namespace) -> int:
    missing = [str(r) + (f" ({note})" if (note := status_line(r)) else "")
               for r in args.runs if not (r / "metrics.json").exists()]
    if missing:
        print(f"error: not run folders (no metrics.json): {', '.join(missing)}", file=sys.stderr)
        return 2
    for run in args.runs:
        if note := status_line(run):
            print(f"warning: {run}: {note}", file=sys.stderr)
    _write_comparison(args.runs, args.out or runs.timestamped_dir("compare", f"{len(args.runs)}runs"))
    return 0
