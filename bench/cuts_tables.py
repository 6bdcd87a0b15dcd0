"""Markdown tables of cuts tables for docs/results.md (nothing typed by hand).

    python bench/cuts_tables.py per-task RUN_DIR [--cells 6x384 6x128 4x384 3x128 1x384]
    python bench/cuts_tables.py retained CUTS_CSV [--task scifact]

``per-task``: one row per task of a run's ``cuts_before.csv`` (zero-shot) and ``cuts.csv``
(trained), the fp32 score of each (layer x dim) cell before -> after. ``retained``: a retrieval
cuts table as each cell's nDCG@10 and its share of the full fp32 model's, per precision; then per
dim the bytes per vector and the search ms per query (median over layers) with its backend.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from bench.results_tables import markdown


def _cell(frame: pd.DataFrame, task: str, layer: int, dim: int, precision: str = "fp32",
          rescore: int = 0) -> float:
    """The score of one cell (NaN when the table lacks it)."""
    row = frame[(frame.task == task) & (frame.layer == layer) & (frame.dim == dim)
                & (frame.precision == precision) & (frame.rescore == rescore)]
    return float(row.score.iloc[0]) if len(row) else float("nan")


def per_task(run: Path, cells: list[tuple[int, int]]) -> pd.DataFrame:
    """Task x cell: 'zero-shot -> trained' fp32 scores of a run folder."""
    before, after = pd.read_csv(run / "cuts_before.csv"), pd.read_csv(run / "cuts.csv")
    rows = []
    for task in after.drop_duplicates("task").task:
        metric = after[after.task == task].metric.iloc[0]
        row = {"task": task, "metric": metric}
        for layer, dim in cells:
            b, a = _cell(before, task, layer, dim), _cell(after, task, layer, dim)
            row[f"L{layer} x {dim}"] = f"{b:.4f} -> {a:.4f} ({a - b:+.4f})"
        rows.append(row)
    return pd.DataFrame(rows)


def _kinds(cuts: pd.DataFrame) -> list[tuple[str, int, str]]:
    """(precision, rescore, column name) in the order fp32, int8, binary, rescored after plain."""
    order = {"fp32": 0, "int8": 1, "binary": 2}
    kinds = sorted({(p, int(r)) for p, r in zip(cuts.precision, cuts.rescore, strict=True)},
                   key=lambda k: (order.get(k[0], 9), k[1]))
    return [(p, r, p + (f" + rescore x{r}" if r else "")) for p, r in kinds]


def retained(cuts: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per (layer, dim): nDCG@10 and its share of the full fp32 cell, per precision / rescoring."""
    cuts = cuts[cuts.task == task]
    full = _cell(cuts, task, int(cuts.layer.max()), int(cuts.dim.max()))
    rows = []
    for (layer, dim), group in cuts.groupby(["layer", "dim"]):
        row = {"layer": int(layer), "dim": int(dim)}
        for precision, rescore, name in _kinds(cuts):
            score = _cell(group, task, layer, dim, precision, rescore)
            row[name] = f"{score:.4f} ({score / full:.1%})"
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["layer", "dim"], ascending=False)


def costs(cuts: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per dim: bytes per vector and search ms per query (median over layers) per precision."""
    cuts = cuts[cuts.task == task]
    rows = []
    for dim, group in cuts.groupby("dim"):
        row = {"dim": int(dim)}
        for precision, rescore, name in _kinds(cuts):
            hit = group[(group.precision == precision) & (group.rescore == rescore)]
            row[name] = (f"{int(hit.bytes_per_vector.iloc[0])} B, "
                         f"{hit.search_ms_per_query.median():.3g} ms ({hit.search_backend.mode().iloc[0]})"
                         if "search_backend" in hit else
                         f"{int(hit.bytes_per_vector.iloc[0])} B, {hit.search_ms_per_query.median():.3g} ms")
        rows.append(row)
    return pd.DataFrame(rows).sort_values("dim", ascending=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["per-task", "retained"])
    parser.add_argument("path", type=Path)
    parser.add_argument("--cells", nargs="+", default=["6x384", "6x128", "4x384", "3x128", "1x384"])
    parser.add_argument("--task", default="scifact")
    args = parser.parse_args()
    if args.what == "per-task":
        cells = [tuple(int(v) for v in c.split("x")) for c in args.cells]
        print(markdown(per_task(args.path, cells)))
    else:
        cuts = pd.read_csv(args.path)
        print(markdown(retained(cuts, args.task)))
        print()
        print(markdown(costs(cuts, args.task)))


if __name__ == "__main__":
    main()
