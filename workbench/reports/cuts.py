"""The cuts of a model for people and programs: the card's "cuts" table and ``cuts.json``.

``cuts.json`` (saved next to the model) lists every cell of the cuts table once:
``{"cells": [{"id", "layer", "dim", "precision", "rescore", "bytes_per_vector",
"latency_ms_per_1k", "search_ms_per_query": {task: ms}, "scores": {task: score},
"quality_retained": {task: share}}], "tasks": {task: {"kind", "metric"}}}``;
``workbench export MODEL --cut ID`` takes the layers and dims of cell ``ID`` from it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

CUTS_JSON = "cuts.json"
CELL_KEYS = ["layer", "dim", "precision", "rescore"]


def _finite(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def cells(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (layer, dim, precision, rescore): a score column per task, cost columns."""
    scores = frame.pivot_table(index=CELL_KEYS, columns="task", values="score", aggfunc="first")
    costs = frame.groupby(CELL_KEYS).agg(latency_ms_per_1k=("latency_ms_per_1k", "mean"),
                                         bytes_per_vector=("bytes_per_vector", "first"))
    order = {"fp32": 0, "int8": 1, "binary": 2}
    table = scores.join(costs).reset_index()
    table = table.assign(_p=table["precision"].map(order)).sort_values(
        ["layer", "dim", "_p", "rescore"], ascending=[False, False, True, True]).drop(columns="_p")
    return table.reset_index(drop=True)


def cuts_document(frame: pd.DataFrame) -> dict[str, Any]:
    """The ``cuts.json`` content of a cuts table (see the module docstring)."""
    table = cells(frame)
    tasks = list(dict.fromkeys(frame["task"]))
    out = []
    for i, row in table.iterrows():
        sub = frame[(frame[CELL_KEYS] == row[CELL_KEYS].values).all(axis=1)]
        out.append({"id": int(i), "layer": int(row["layer"]), "dim": int(row["dim"]),
                    "precision": row["precision"], "rescore": int(row["rescore"]),
                    "bytes_per_vector": int(row["bytes_per_vector"]),
                    "latency_ms_per_1k": _finite(row["latency_ms_per_1k"]),
                    "search_ms_per_query": {t: _finite(v) for t, v in zip(
                        sub["task"], sub.get("search_ms_per_query", pd.Series(dtype=float)),
                        strict=False) if _finite(v) is not None},
                    "scores": {t: _finite(row[t]) for t in tasks if t in row},
                    "quality_retained": {t: _finite(v) for t, v in
                                         zip(sub["task"], sub["quality_retained"], strict=True)}})
    kinds = frame.drop_duplicates("task").set_index("task")
    return {"tasks": {t: {"kind": kinds.loc[t, "kind"], "metric": kinds.loc[t, "metric"]}
                      for t in tasks}, "cells": out}


def write_cuts_json(frame: pd.DataFrame, folder: str | Path) -> Path:
    """Write ``cuts.json`` into ``folder`` (a saved model); returns its path."""
    path = Path(folder) / CUTS_JSON
    path.write_text(json.dumps(cuts_document(frame), indent=1))
    return path


def read_cut(model_dir: str | Path, cell_id: int) -> dict[str, Any]:
    """Cell ``cell_id`` of ``model_dir/cuts.json``; a clear error if either is missing."""
    path = Path(model_dir) / CUTS_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: --cut needs a model saved with its cuts "
                                "(a run's model/ folder); pass --layers/--dim instead")
    found = {c["id"]: c for c in json.loads(path.read_text())["cells"]}
    if cell_id not in found:
        raise ValueError(f"--cut {cell_id}: {path} has cells 0..{len(found) - 1}")
    return found[cell_id]


def cuts_markdown(frame: pd.DataFrame) -> str:
    """The card's cuts table: quality per task, latency and bytes of every cell."""
    table = cells(frame)
    tasks = [t for t in dict.fromkeys(frame["task"]) if t in table]
    head = ["id", "layer", "dim", "precision", *tasks, "latency ms / 1k", "bytes / vector"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for i, row in table.iterrows():
        precision = row["precision"] + (f" +rescore x{int(row['rescore'])}" if row["rescore"] else "")
        values = [str(i), str(int(row["layer"])), str(int(row["dim"])), precision,
                  *(f"{row[t]:.4f}" if pd.notna(row[t]) else "" for t in tasks),
                  f"{row['latency_ms_per_1k']:.1f}" if pd.notna(row["latency_ms_per_1k"]) else "",
                  str(int(row["bytes_per_vector"]))]
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join(lines)
