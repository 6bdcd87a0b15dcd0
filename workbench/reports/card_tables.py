"""Markdown pieces of a model card (tables, architecture, statistics), kept out of the template.

Also ``dataset_stats(rows, name)``: the ``metrics.json["datasets"][split]`` entry a card reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from workbench.models.st_format import saved_max_length
from workbench.runs.schema import DatasetSummary

ST_POOLING_KEYS = ("word_embedding_dimension", "pooling_mode_cls_token",
                   "pooling_mode_mean_tokens", "pooling_mode_max_tokens",
                   "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                   "pooling_mode_lasttoken", "include_prompt")


def fmt(value, digits: int = 4) -> str:
    """A number as the seed cards print it (4 decimals, trailing zeros dropped; NaN -> 'NaN')."""
    if value is None or (isinstance(value, str) and not value):
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else str(value)
    return f"{round(float(value), digits):g}" if isinstance(value, float) else str(value)


def md_table(headers: Sequence[str], rows: Sequence[Sequence], bold_row: int | None = None,
             align: str = ":--") -> str:
    """A Markdown table; ``bold_row`` (index) is printed in bold, as the primary metric."""
    cells = [[str(c) for c in row] for row in rows]
    if bold_row is not None:
        cells[bold_row] = [f"**{c}**" for c in cells[bold_row]]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def evaluation_tables(evaluations, kind: str) -> list[dict]:
    """One table per evaluator and dataset (bi, seed 002) or per evaluator (cross, seed 003)."""
    if kind != "cross":
        return [{"task": ev.task, "datasets": [ev.dataset],
                 "table": md_table(["Metric", "Value"],
                                   [[m, fmt(v)] for m, v in ev.metrics.items()],
                                   _index(list(ev.metrics), ev.primary))} for ev in evaluations]
    out = []
    for task in dict.fromkeys(ev.task for ev in evaluations):
        evs = [ev for ev in evaluations if ev.task == task]
        names = list(dict.fromkeys(m for ev in evs for m in ev.metrics))
        rows = [[m, *(fmt(ev.metrics.get(m)) for ev in evs)] for m in names]
        out.append({"task": task, "datasets": [ev.dataset for ev in evs],
                    "table": md_table(["Metric", *(ev.dataset for ev in evs)], rows,
                                      _index(names, evs[0].primary))})
    return out


def _index(names: list[str], primary: str | None) -> int | None:
    return names.index(primary) if primary in names else None


def grid_table(grid: pd.DataFrame, collapsed: Sequence[int] = ()) -> str:
    """Quality per layer (rows) x dimension (columns), latency per layer, bytes per vector;
    ``collapsed`` layers are labelled so."""
    from workbench.runs.compare import quality_column

    quality = quality_column(grid)
    pivot = grid.pivot_table(index="layer", columns="dim", values=quality)
    dims = sorted(pivot.columns, reverse=True)
    latency = grid.groupby("layer")["latency_ms_per_1k"].mean() if "latency_ms_per_1k" in grid \
        else pd.Series(dtype=float)
    rows = [[f"{int(layer)}" + (" (collapsed)" if int(layer) in collapsed else ""), *(fmt(pivot.loc[layer, d]) for d in dims),
             fmt(latency.get(layer, float("nan")), 1)] for layer in pivot.index]
    if "bytes_per_vector" in grid and grid["bytes_per_vector"].notna().any():
        size = grid.groupby("dim")["bytes_per_vector"].first()
        rows.append(["bytes/vector", *(fmt(int(size[d])) for d in dims), ""])
    return md_table([f"layer \\ dim ({quality})", *(str(int(d)) for d in dims),
                     "latency (ms / 1k texts)"], rows)


def reranker_table(after: pd.DataFrame, before: pd.DataFrame | None = None) -> str:
    """Per depth: quality before and after training, accuracy at one threshold, latency."""
    from workbench.runs.compare import quality_column

    quality = quality_column(after)
    prior = before.set_index("layer")[quality] if before is not None and not before.empty \
        and quality in before else pd.Series(dtype=float)
    rows = []
    for _, row in after.sort_values("layer").iterrows():
        layer = int(row["layer"])
        rows.append([str(layer), fmt(prior.get(layer, float("nan"))), fmt(row[quality]),
                     fmt(row.get("accuracy_at_0.5", float("nan"))),
                     fmt(row.get("latency_ms_per_1k", float("nan")), 1)])
    return md_table(["layers kept", f"{quality} before", f"{quality} after",
                     "accuracy at score 0.5", "latency (ms / 1k pairs)"], rows)


def architecture(model_dir: Path) -> str:
    """The ``SentenceTransformer(...)`` repr of the saved model, from its ST files."""
    def read(name: str) -> dict | list:
        path = model_dir / name
        return json.loads(path.read_text()) if path.exists() else {}

    sbert, config = read("sentence_bert_config.json"), read("config.json")
    arch = (config.get("architectures") or [config.get("model_type", "?")])[0]
    lines = ["SentenceTransformer(",
             f"  (0): Transformer({{'max_seq_length': {sbert.get('max_seq_length', 512)}, "
             f"'do_lower_case': {sbert.get('do_lower_case', False)}}}) with Transformer model: {arch}"]
    for module in list(read("modules.json") or [])[1:]:
        kind = module["type"].rsplit(".", 1)[-1]
        cfg = read(f"{module['path']}/config.json") if module.get("path") else {}
        if kind == "Pooling":
            cfg = {k: cfg[k] for k in ST_POOLING_KEYS if k in cfg}
        args = repr(cfg) if cfg else ""
        lines.append(f"  ({module['idx']}): {kind}({args})")
    return "\n".join(lines + [")"])


def max_seq_length(model_dir: Path, default: int = 512) -> int:
    """The truncation length saved with the model (``st_format.saved_max_length``)."""
    return saved_max_length(str(model_dir)) or default


def hyperparameters(run) -> dict[str, dict]:
    """``{"all", "non_default"}`` from ``TrainConfig.to_card_dict()`` (kept under ``training``),
    else the run's parameters; run-only parameters (model, data limits) count as non-default."""
    card = (run.info.get("training") or {}).get("hyperparameters") or {}
    everything = dict(card.get("all") or run.parameters)
    non_default = dict(card.get("non_default", everything))
    for key in ("model", "variant", "max_train_samples", "max_eval_samples"):
        if key in run.parameters and key not in everything:
            non_default[key] = run.parameters[key]
    return {"all": everything, "non_default": non_default}


def train_log_table(log: pd.DataFrame) -> str:
    """The training-logs table; empty cells are '-'."""
    if log.empty:
        return "No training steps were logged."
    rows = [[_log_cell(col, row[col]) for col in log.columns] for _, row in log.iterrows()]
    return md_table(list(log.columns), rows, align=":-:")


def _log_cell(column: str, value) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if column == "Step":
        return str(int(value))
    return fmt(value)


def dataset_size(stats: dict) -> int:
    """Rows in the dataset (``DatasetSummary.samples``; 0 when none was recorded)."""
    return int(stats.get("samples", 0))


def dataset_details(stats: dict) -> str:
    """Column statistics and sample rows of an ``artifacts.dataset_summary`` entry."""
    columns = stats.get("columns") or {}
    if not columns:
        return "* No statistics were recorded for this dataset."

    def detail(c: dict) -> str:
        unit = {"chars": " characters"}.get(c.get("unit"), f" {c['unit']}" if c.get("unit") else "")
        return "".join(f"<li>{k}: {fmt(c[k], 2)}{unit}</li>" for k in ("min", "mean", "max"))

    table = md_table(["", *columns], [["type", *(c["type"] for c in columns.values())],
                                      ["details", *(f"<ul>{detail(c)}</ul>"
                                                    for c in columns.values())]])
    samples = stats.get("examples") or []
    sample_rows = [[f"<code>{fmt(r.get(c))}</code>" for c in columns] for r in samples]
    return (f"* Approximate statistics based on the first {stats.get('stats_rows', 1000)} samples:\n" + table
            + "\n* Samples:\n" + md_table(list(columns), sample_rows))


def example_pairs(evalset: DatasetSummary | None, n: int = 5) -> list[tuple[str, str]]:
    """Text pairs from the evaluation samples (for usage snippets)."""
    pairs = [(a, b) for a, b, _ in evalset.labelled_pairs()] if evalset is not None else []
    return pairs[:n] or [("A man is eating food.", "A man is eating a piece of bread."),
                         ("A plane is taking off.", "An air plane is taking off.")]


def widget_examples(evalset: DatasetSummary | None, n: int = 5) -> list[dict]:
    """Hub widget entries: a source sentence, its pair and two other evaluation sentences."""
    pairs = example_pairs(evalset, n)
    others, k = [b for _, b in pairs], len(pairs)
    return [{"source_sentence": a,
             "sentences": list(dict.fromkeys([b, others[(i + 1) % k], others[(i + 2) % k]]))}
            for i, (a, b) in enumerate(pairs)]


FILTERS = {"fmt": fmt, "dataset_details": dataset_details, "tojson_pretty":
           lambda obj: json.dumps(obj, indent=4, default=str), "thousands": lambda n: f"{n:,}",
           "size": dataset_size}
