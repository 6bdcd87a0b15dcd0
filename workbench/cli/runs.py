"""``workbench run``, ``workbench sweep`` and ``workbench compare`` (registered in ``cli.py``)."""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workbench.errors import FolderError, ParameterError
from workbench.runs import execute as runs
from workbench.runs import preflight
from workbench.runs.record import status_line
from workbench.runs.verdict import read_verdict

STRICT_EXIT = 3
"""Exit code of ``--strict`` when a finished run's verdict is warning or degenerate."""

PARAM_FLAGS = ("-p", "--param")


def take_params(argv: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Take every ``-p NAME VALUE`` out of ``argv`` before argparse sees it, so a VALUE that
    starts with a dash (``-1e-4``) reaches the parameter check instead of argparse."""
    rest, pairs, i = [], [], 0
    while i < len(argv):
        if argv[i] in PARAM_FLAGS and len(argv) - i >= 3:
            pairs.append([argv[i + 1], argv[i + 2]])
            i += 3
        else:
            rest.append(argv[i])
            i += 1
    return rest, pairs


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (the message names the value)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed: an integer >= 1")
    return value


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", help="notebook name: adaptive_layer, matryoshka_2d, bce_reranker")
    p.add_argument("-p", "--param", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"), help="set a notebook parameter (repeatable)")
    p.add_argument("--quiet", action="store_true",
                   help="do not print the cells and the training progress as the run goes")
    p.add_argument("--log-output", action="store_true",
                   help="also stream the notebook's own output (prints, bars) to the terminal")
    p.add_argument("--strict", action="store_true",
                   help=f"exit {STRICT_EXIT} when a run's health verdict is not ok "
                        "(warning or degenerate)")


def add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="execute an experiment notebook into a run folder")
    _add_common(p)
    p.add_argument("--preset", default="cpu", help="parameter preset (smoke, cpu, seed-00N)")
    p.add_argument("--out", type=Path, help="run folder (default runs/<time>-<exp>-<preset>)")
    p.add_argument("--resume", type=Path, metavar="DIR",
                   help="re-run a failed/interrupted run folder from its last checkpoint")
    p.set_defaults(func=run_run)


def overrides(experiment: str, pairs: Sequence[Sequence[str]]) -> dict[str, Any]:
    """``-p NAME VALUE`` pairs as typed values; unknown or reserved names are refused."""
    runs.notebook_path(experiment)
    runs.check_overrides(experiment, [name for name, _ in pairs])
    declared = runs.declared_parameters(experiment)
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


def _verdict(run_dir: Path) -> bool:
    """Print the run's one-line health verdict; True when it is ``ok``."""
    status, line = read_verdict(run_dir)
    print(line)
    return status == "ok"


def run_run(args: argparse.Namespace) -> int:
    """Every check (``runs.plan_run``) passes before anything is written or printed."""
    params = overrides(args.experiment, args.param)
    runs.plan_run(args.experiment, args.preset, params, args.out, args.resume)
    if args.resume is not None and (note := status_line(args.resume)):
        print(f"resuming {args.resume}: {note}")
    run_dir = _execute(args, params, args.out, args.resume)
    if run_dir is None:
        return 1
    return 0 if _verdict(run_dir) or not args.strict else STRICT_EXIT


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
        found = split_values(values)
        if not sep or not name.strip() or not found or any(not v for v in found):
            raise ParameterError(f"--grid {item!r} is malformed: expected NAME=V1,V2 (lists in "
                                 "brackets: matryoshka_dims=[32,16],[32,8])")
        if values.count("[") != values.count("]") or values.count("(") != values.count(")"):
            raise ParameterError(f"--grid {item!r} is malformed: unbalanced brackets")
        axes.append([(name.strip(), v) for v in found])
    return [overrides(experiment, combo) for combo in itertools.product(*axes)]


def run_sweep(args: argparse.Namespace) -> int:
    """Every point is checked (``runs.plan_run``) before the first one runs."""
    fixed = overrides(args.experiment, args.param)
    points = sweep_points(args.experiment, args.grid)
    for point in points:
        runs.plan_run(args.experiment, args.preset, {**fixed, **point})
    if args.out is not None:
        preflight.check_out_dir(args.out.expanduser().resolve())
    done, failed, unhealthy = [], 0, 0
    for i, point in enumerate(points, 1):
        print(f"[{i}/{len(points)}] {args.experiment} {point}")
        run_dir = _execute(args, {**fixed, **point})
        done += [run_dir] if run_dir else []
        failed += run_dir is None
        unhealthy += run_dir is not None and not _verdict(run_dir)
    out = args.out or runs.timestamped_dir("sweep", args.experiment, args.preset)
    if done:
        _write_comparison(done, out)
    print(f"{len(done)} run(s) finished ({unhealthy} not healthy), {failed} failed")
    return 1 if failed else (STRICT_EXIT if args.strict and unhealthy else 0)


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
    for run_dir in args.runs:
        preflight.check_finished_run(run_dir)
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        raise FolderError(f"--out {args.out} is not empty; give a new folder")
    for run in args.runs:
        if note := status_line(run):
            print(f"warning: {run}: {note}", file=sys.stderr)
    _write_comparison(args.runs, args.out or runs.timestamped_dir("compare", f"{len(args.runs)}runs"))
    return 0
