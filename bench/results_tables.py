"""Markdown tables for docs/results.md, read from run folders (nothing typed by hand).

    python bench/results_tables.py RUN_DIR [RUN_DIR ...]
    python bench/results_tables.py RUN_DIR ... --cells 1x32 2x32 4x128 6x384
    python bench/results_tables.py RUN_DIR ... --figure docs/img/research_grids.png

Prints, for each run: the zero-shot and after-training layer x dim grids (spearman_cosine, or
the reranker's per-layer spearman), per layer count the quality retained and measured speed-up
(runs whose grid has latency), headline metrics, training speed, wall time and emissions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from workbench.runs.compare import load_run, quality_column


def _fmt(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown(frame: pd.DataFrame, index: bool = False) -> str:
    """A GitHub markdown table (no tabulate dependency)."""
    frame = frame.reset_index() if index else frame
    cells = [[str(c) for c in frame.columns]] + [[_fmt(v)
                                                  for v in row] for row in frame.to_numpy()]
    lines = ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join([lines[0], "|" + "---|" * len(frame.columns), *lines[1:]])


def grid_table(grid: pd.DataFrame) -> str:
    """Layers as rows, dims as columns, the grid's quality column as values."""
    col = quality_column(grid)
    grid = grid.astype({"layer": int})
    if "dim" not in grid or grid["dim"].isna().all():
        return markdown(grid[["layer", col]])
    wide = grid.pivot(index="layer", columns="dim", values=col).sort_index(axis=1, ascending=False)
    wide.columns = [f"{int(c)} dims" for c in wide.columns]
    return markdown(wide, index=True)


def run_summary(run_dir: Path) -> dict:
    """One row: experiment, headline metrics, rows/s, train seconds, energy, CO2."""
    view = load_run(run_dir)
    m = view.info
    training, emissions = m.get("training") or {}, m.get("emissions") or {}
    row = {"run": run_dir.name, "experiment": m.get("experiment"), "status": m["health"]["status"]}
    row.update({k: round(v, 4) for k, v in m["metrics"].items()
                if isinstance(v, float) and k.endswith(("spearman_cosine", "_spearman"))})
    row["train rows/s"] = round(training.get("rows_per_s") or float("nan"), 1)
    row["train s"] = round(training.get("seconds") or float("nan"), 0)
    row["kWh"] = emissions.get("energy_kwh")
    row["g CO2"] = round(1000 * emissions["emissions_kg"], 2) if emissions.get("emissions_kg") else None
    return row


def cells_table(run_dirs: list[Path], cells: list[str]) -> str:
    """spearman_cosine of chosen ``LxD`` cells (e.g. ``2x32``), one row per run."""
    rows = []
    for run_dir in run_dirs:
        grid = load_run(run_dir).grid.astype({"layer": int, "dim": int})
        row = {"run": run_dir.name}
        for cell in cells:
            layer, dim = (int(x) for x in cell.split("x"))
            hit = grid[(grid.layer == layer) & (grid.dim == dim)]
            row[f"L{layer}/{dim}d"] = float(hit[quality_column(grid)].iloc[0]) if len(hit) else None
        rows.append(row)
    return markdown(pd.DataFrame(rows))


def depth_table(view) -> str | None:
    """Per layer count at full width: quality before/after, retained, latency and speed-up."""
    after, before = view.grid, view.grid_before
    if "latency_ms_per_1k" not in after or after["latency_ms_per_1k"].isna().all():
        return None
    col, width = quality_column(after), after["dim"].max()
    a = after[after.dim == width].set_index("layer").sort_index()
    b = before[before.dim == width].set_index("layer")[quality_column(before)]
    full, latency = a[col].iloc[-1], a["latency_ms_per_1k"]
    table = pd.DataFrame({"layers kept": a.index.astype(int), "zero-shot": b.reindex(a.index).values,
                          "after": a[col].values,
                          "quality retained": [f"{100 * v / full:.1f}%" for v in a[col]],
                          "latency ms / 1k texts": latency.round(0).values,
                          "speed-up vs all layers": [f"{latency.iloc[-1] / v:.2f}x" for v in latency]})
    return markdown(table)


def save_figure(run_dirs: list[Path], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from workbench.reports.compare_plots import plot_grid_multiples

    axes = plot_grid_multiples([load_run(r) for r in run_dirs])
    fig = axes.flat[0].figure
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--cells", nargs="+", metavar="LxD",
                        help="only a table of these cells across the runs, e.g. 2x32 4x128")
    parser.add_argument("--figure", type=Path, help="also save the runs' layer x dim heatmaps "
                        "side by side on one colour scale (workbench.runs.compare) to this PNG")
    args = parser.parse_args()
    if args.figure:
        save_figure(args.runs, args.figure)
    if args.cells:
        print(cells_table(args.runs, args.cells))
        return
    for run_dir in args.runs:
        view = load_run(run_dir)
        print(f"\n### {run_dir.name}\n\nzero-shot:\n\n{grid_table(view.grid_before)}\n")
        print(f"after training:\n\n{grid_table(view.grid)}\n")
        if (depth := depth_table(view)) is not None:
            print(f"per layer count, full width:\n\n{depth}\n")
    summary = pd.DataFrame([run_summary(r) for r in args.runs])
    print("\n### Summary\n\n" + markdown(summary))


if __name__ == "__main__":
    main()
