"""The cuts table: tasks x layers x dims x precisions, each cell with its quality and measured cost.

Every text set (a pair task's distinct sentences, a retrieval task's queries and its corpus) is
encoded ONCE for all layers; every (layer, dim, precision[, rescore]) cell is computed from those
embeddings (``cells``). Cost columns: ``latency_ms_per_1k`` encodes a sample of the task's texts
(pairs: its sentences; retrieval: its queries, the per-search cost) with the model cut to that
depth; ``search_ms_per_query`` is the faster exact search of all queries over the corpus at that
dim and precision (``search.search_latency``, measured once per (dim, precision, rescore): it does
not depend on the depth); ``bytes_per_vector`` exact; ``index_bytes`` the corpus index.
``quality_retained`` = score / the task's score at the deepest, widest fp32 cell. A suite adds a
row per cell with the mean score of its members (as MTEB reports a suite).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.data.tasks import Task
from workbench.evaluators import quantize as q
from workbench.evaluators.base import encode_pairs
from workbench.evaluators.cells import pair_cell, retrieval_cell
from workbench.evaluators.correlation import Gold
from workbench.evaluators.grid import _cells, latency_per_depth, latency_texts
from workbench.evaluators.retrieval import CUTOFFS, RetrievalEvaluator, id_ranks
from workbench.evaluators.search import Index, search_latency
from workbench.models.bi_encoder import truncate

FIRST = ["task", "kind", "suite", "layer", "dim", "precision", "rescore", "metric", "score"]
LAST = ["latency_ms_per_1k", "search_ms_per_query", "search_backend", "bytes_per_vector",
        "index_bytes", "quality_retained", "encode_seconds", "status", "diagnosis"]


def _row(task: Task, layer: int, dim: int, precision: str, rescore: int,
         metrics: dict[str, float], diagnosis: str | None) -> dict[str, Any]:
    return {"task": task.name, "kind": task.kind, "suite": task.suite, "layer": layer, "dim": dim,
            "precision": precision, "rescore": rescore, "metric": task.main_metric, **metrics,
            "bytes_per_vector": q.bytes_per_vector(dim, precision),
            "status": "ok" if diagnosis is None else "degenerate", "diagnosis": diagnosis}


def _pair_rows(model: Any, task: Task, layers: list[int], dims: list[int],
               precisions: Sequence[str], batch_size: int, encode_precision: str) -> list[dict]:
    s1, s2, labels = task.pairs
    start = time.perf_counter()
    embs = encode_pairs(model, s1, s2, layers, batch_size, encode_precision)
    encode_seconds, rows = time.perf_counter() - start, []
    gold = Gold(labels) if task.kind == "sts" else labels  # STS gold ranked once, not per cell
    for layer in layers:
        for dim in dims:
            e1, e2 = (truncate(e, dim, model.normalize) for e in embs[layer])
            for precision in precisions:
                metrics, diagnosis = pair_cell(task.kind, e1, e2, gold, precision)
                rows.append(_row(task, layer, dim, precision, 0, metrics, diagnosis)
                            | {"encode_seconds": encode_seconds})
    return rows


def _retrieval_rows(model: Any, task: Task, layers: list[int], dims: list[int],
                    precisions: Sequence[str], rescore: int, batch_size: int,
                    encode_precision: str, calibration: Sequence[str] | None) -> list[dict]:
    data, start = task.retrieval, time.perf_counter()
    queries, corpus = RetrievalEvaluator(data, batch_size=batch_size,
                                         precision=encode_precision).embed(model, layers)
    encode_seconds = time.perf_counter() - start
    calib = (model.encode_layers(list(calibration), layers, batch_size, encode_precision)
             if calibration else None)
    ranks, rows = id_ranks(list(data.corpus)), []
    for layer in layers:
        for dim in dims:
            qv, cv = (truncate(e[layer], dim, model.normalize) for e in (queries, corpus))
            cal = truncate(calib[layer], dim, model.normalize) if calib else None
            for precision in precisions:
                index = Index.build(cv, precision, cal)
                for r in sorted({0, rescore if precision != "fp32" else 0}):
                    metrics, diagnosis = retrieval_cell(data, qv, index, ranks, r)
                    rows.append(_row(task, layer, dim, precision, r, metrics, diagnosis)
                                | {"index_bytes": index.nbytes})
    top = max(layers)
    costs = {(d, p, r): search_latency(Index.build(truncate(corpus[top], d, model.normalize), p),
                                       truncate(queries[top], d, model.normalize), CUTOFFS.max_k, r)
             for d in dims for p in precisions for r in sorted({0, rescore if p != "fp32" else 0})}
    for row in rows:
        row["search_ms_per_query"], row["search_backend"] = costs[row["dim"], row["precision"],
                                                                  row["rescore"]]
        row["encode_seconds"] = encode_seconds
    return rows


def _task_texts(task: Task) -> list[str]:
    return (list(task.retrieval.queries.values()) if task.kind == "retrieval"
            else [*task.pairs[0], *task.pairs[1]])


def task_grid(model: Any, tasks: Sequence[Task], dims: Sequence[int] | None = None,
              layers: Sequence[int] | None = None, precisions: Sequence[str] = ("fp32",),
              rescore: int = 0, encode_precision: str = "fp32", batch_size: int = 64,
              measure_latency: bool = True, latency_sample: int = 256,
              calibration: Sequence[str] | None = None) -> pd.DataFrame:
    """The cuts table of ``tasks`` (``workbench.data.tasks.load_tasks``), one row per cell.

    Args:
        model: a ``BiEncoder``.
        dims, layers: as :func:`workbench.evaluators.grid.grid` (default: all layers, the
            hidden size and powers of two down to 32).
        precisions: embedding precisions (``fp32``, ``int8``, ``binary``).
        rescore: r > 0 adds, for retrieval at int8/binary, rows re-scoring the top 100 r.
        encode_precision: "fp32" or "bf16" (long corpora) for the one encode pass.
        calibration: texts whose embeddings calibrate int8 (default: each corpus).

    Returns the long table (columns ``FIRST``, metric columns, ``LAST``); ``attrs`` holds
    ``seconds`` (total), ``encode_seconds`` and ``latency_seconds`` per task.
    """
    precisions = [q.check_precision(p) for p in precisions]
    if rescore < 0:
        raise ValueError(f"rescore must be >= 0 (a multiplier of the top k); got {rescore}")
    layers, dims = _cells(model, layers, dims, ())
    start, rows, timings = time.perf_counter(), [], {}
    for task in tasks:
        t0 = time.perf_counter()
        rows += (_retrieval_rows(model, task, layers, dims, precisions, rescore, batch_size,
                                 encode_precision, calibration) if task.kind == "retrieval" else
                 _pair_rows(model, task, layers, dims, precisions, batch_size, encode_precision))
        t1 = time.perf_counter()
        latency = (latency_per_depth(model, latency_texts(_task_texts(task), latency_sample), layers,
                                     batch_size, encode_precision) if measure_latency else {})
        for row in rows:
            if row["task"] == task.name:
                row["latency_ms_per_1k"] = latency.get(row["layer"], np.nan)
        encode = next(r["encode_seconds"] for r in rows if r["task"] == task.name)
        timings[task.name] = {"encode": encode, "encode_and_cells": t1 - t0,
                              "latency": time.perf_counter() - t1,
                              "total": time.perf_counter() - t0}
    frame = finish(pd.DataFrame(rows))
    frame.attrs.update({"seconds": time.perf_counter() - start, "tasks": timings,
                        "encode_precision": encode_precision})
    return frame


def _suite_rows(frame: pd.DataFrame) -> pd.DataFrame:
    members = frame[frame["suite"].notna() & (frame["kind"] != "suite")]
    if members.empty:
        return frame.iloc[0:0]
    keys = ["suite", "layer", "dim", "precision", "rescore"]
    mean = members.groupby(keys, dropna=False).agg(
        score=("score", "mean"), latency_ms_per_1k=("latency_ms_per_1k", "mean"),
        bytes_per_vector=("bytes_per_vector", "first"), n_sets=("task", "nunique")).reset_index()
    mean["task"], mean["kind"] = mean["suite"], "suite"
    mean["metric"] = "mean " + members.groupby("suite")["metric"].first().reindex(mean["suite"]).values
    mean["status"] = "ok"
    return mean


def finish(frame: pd.DataFrame) -> pd.DataFrame:
    """Add suite means and ``quality_retained``; order the columns."""
    frame = pd.concat([frame, _suite_rows(frame)], ignore_index=True)
    full = frame[(frame["layer"] == frame["layer"].max()) & (frame["dim"] == frame["dim"].max())
                 & (frame["rescore"] == 0)]
    order = {p: i for i, p in enumerate(q.PRECISIONS)}
    full = full.assign(o=full["precision"].map(order)).sort_values("o").drop_duplicates("task")
    frame["quality_retained"] = frame["score"] / frame["task"].map(full.set_index("task")["score"])
    for column in LAST:
        if column not in frame:
            frame[column] = np.nan
    middle = [c for c in frame.columns if c not in FIRST + LAST]
    return frame.reindex(columns=FIRST + middle + LAST)
