"""The run folder's files as types: ``run.json``, ``metrics.json`` and the grid csv columns.

Every writer (``runs.execute``, ``runs.folder.write_metrics``, ``recipes``, the emissions meter)
builds these dataclasses and every reader (cards, widgets, compare, ``check_run_folder``) reads
them back with ``from_dict``; one spelling per key. ``to_dict`` leaves out optional fields that are
``None`` (marked ``OMIT``) so files keep only what was measured; NaN is written as null
(``clean``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
FAILURE_FILE = "FAILED.txt"
OMIT = {"omit_none": True}
"""Field metadata: leave the key out of the file when the value is ``None``."""

# ---- grid csv (grid.csv, grid_before.csv, metrics.json grid_before / grid_after) -----------
LAYER, DIM, STATUS, DIAGNOSIS = "layer", "dim", "status", "diagnosis"
LATENCY, BYTES, RETAINED = "latency_ms_per_1k", "bytes_per_vector", "quality_retained"
QUALITY_COLUMNS = ("spearman_cosine", "spearman", "cosine_ap", "max_ap", "pearson_cosine",
                   "cosine_accuracy")
"""Grid columns that can stand for quality, the first present wins (bi: spearman_cosine,
reranker: spearman)."""
GRID_COLUMNS = (LAYER, DIM, LATENCY, BYTES, STATUS)
"""Columns every grid csv holds besides its quality and metric columns."""

T = TypeVar("T")


def grid_problems(grid: pd.DataFrame, name: str) -> list[str]:
    """What a grid csv lacks: rows, the ``GRID_COLUMNS`` or a quality column."""
    if grid.empty:
        return [f"{name} has no rows"]
    problems = [f"{name} lacks column '{c}'" for c in GRID_COLUMNS if c not in grid.columns]
    if not any(c in grid.columns for c in QUALITY_COLUMNS):
        problems.append(f"{name} has no quality column (one of {', '.join(QUALITY_COLUMNS)})")
    return problems


def clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python, DataFrames -> list of rows,
    dataclasses -> dicts (``to_dict``), paths -> str."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return clean(to_dict(value))
    if isinstance(value, pd.DataFrame):
        return [clean(row) for row in value.to_dict(orient="records")]
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def to_dict(record: Any) -> dict[str, Any]:
    """A dataclass as its file form (nested dataclasses too; ``OMIT`` fields left out if None)."""
    out = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if value is None and f.metadata.get("omit_none"):
            continue
        out[f.name] = to_dict(value) if dataclasses.is_dataclass(value) else value
    return out


def from_dict(cls: type[T], data: Mapping[str, Any] | None) -> T:
    """``cls`` from its file form; keys ``cls`` does not declare raise (one spelling per key)."""
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown key(s) {unknown}; expected {sorted(names)}")
    return cls(**data)


@dataclass
class Failure:
    """Where a notebook failed (``run.json`` ``failure``)."""

    cell_index: int | None
    execution_count: int | None
    ename: str
    evalue: str
    cell_source_head: list[str] = field(default_factory=list)


@dataclass
class RunRecord:
    """``run.json``: written by ``workbench.runs.execute`` before, during and after a run."""

    experiment: str
    preset: str
    parameters: dict[str, Any]
    status: str | None = field(default=None, metadata=OMIT)  # "running" | "ok" | "failed"
    started: str | None = field(default=None, metadata=OMIT)
    wall_seconds: float | None = field(default=None, metadata=OMIT)
    failure: Failure | None = field(default=None, metadata=OMIT)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        record = from_dict(cls, data)
        if isinstance(record.failure, Mapping):
            record.failure = from_dict(Failure, record.failure)
        return record


@dataclass
class DatasetSummary:
    """``metrics.json`` ``datasets[role]``: size, column statistics and the first rows."""

    name: str
    split: str
    samples: int
    stats_rows: int
    columns: dict[str, dict[str, Any]]
    examples: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = field(default=None, metadata=OMIT)

    def labelled_pairs(self) -> list[tuple[str, str, float | None]]:
        """``(text, text, gold)`` from each example row: its first two texts and first number."""
        pairs = []
        for row in self.examples:
            texts = [v for v in row.values() if isinstance(v, str)]
            gold = next((v for v in row.values() if isinstance(v, int | float)), None)
            if len(texts) >= 2:
                pairs.append((texts[0], texts[1], gold))
        return pairs


@dataclass
class Emissions:
    """``metrics.json`` ``emissions`` (codecarbon, offline); ``status`` "ok" or "unknown"."""

    status: str
    error: str | None = field(default=None, metadata=OMIT)
    energy_kwh: float | None = field(default=None, metadata=OMIT)
    emissions_kg: float | None = field(default=None, metadata=OMIT)
    duration_s: float | None = None
    hours: float | None = field(default=None, metadata=OMIT)
    cpu_model: str | None = field(default=None, metadata=OMIT)
    gpu_model: str | None = field(default=None, metadata=OMIT)
    gpu_count: int | None = field(default=None, metadata=OMIT)
    ram_gb: float | None = field(default=None, metadata=OMIT)
    country: str | None = field(default=None, metadata=OMIT)
    on_cloud: Any = field(default=None, metadata=OMIT)
    parts: int | None = field(default=None, metadata=OMIT)  # a resumed run: parts combined


@dataclass
class Health:
    """``metrics.json`` ``health`` (``runs.verdict.run_health``): ``status`` ok / warning /
    degenerate, ``diagnosis`` (every finding, worst first), the ``findings``, the evaluations'
    health ``checks``, the per-layer probe of the trained model (``final``), the layers whose
    probe collapsed and the ``thresholds`` the verdict used."""

    status: str = "ok"
    diagnosis: str | None = None
    training_status: str | None = field(default=None, metadata=OMIT)
    checks: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, str]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    collapsed_layers: list[int] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)


@dataclass
class Training:
    """``metrics.json`` ``training``: time, throughput, steps and the card's hyperparameters."""

    seconds: float | None = None
    rows_per_s: float | None = None
    steps: int | None = None
    rows: int | None = None
    epoch: float | None = field(default=None, metadata=OMIT)
    final_loss: float | None = field(default=None, metadata=OMIT)
    status: str | None = field(default=None, metadata=OMIT)
    parts: list[dict[str, Any]] = field(default_factory=list)
    hyperparameters: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ModelInfo:
    """``metrics.json`` ``model``: what was trained (bi-encoder or cross-encoder)."""

    base_model: str
    kind: str = "bi"  # "bi" | "cross"
    num_layers: int | None = None
    dim: int | None = None
    model_type: str | None = None
    pooling: str | None = field(default=None, metadata=OMIT)
    normalize: bool | None = field(default=None, metadata=OMIT)
    max_seq_length: int | None = field(default=None, metadata=OMIT)
    do_lower_case: bool | None = field(default=None, metadata=OMIT)
    modules: list[str] | None = field(default=None, metadata=OMIT)  # the sentence-transformers stack


@dataclass
class LossInfo:
    """``metrics.json`` ``loss``: name, config and BibTeX citations (the card's sections)."""

    name: str = "unknown"
    config: dict[str, Any] = field(default_factory=dict)
    citations: list[str] = field(default_factory=list)


@dataclass
class MetricsRecord:
    """``metrics.json``: everything a card, a widget or a comparison reads about a finished run."""

    experiment: str
    preset: str
    parameters: dict[str, Any]
    metrics: dict[str, float | None]
    grid_before: list[dict[str, Any]]
    grid_after: list[dict[str, Any]]
    health: Health
    training: Training
    emissions: Emissions | None
    versions: dict[str, str]
    model: ModelInfo
    datasets: dict[str, DatasetSummary]
    loss: LossInfo

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricsRecord:
        """Typed view of a ``metrics.json`` (missing sections raise ``TypeError``)."""
        data = dict(data)
        typed = {"health": Health, "training": Training, "model": ModelInfo, "loss": LossInfo}
        for key, kind in typed.items():
            data[key] = from_dict(kind, data.get(key))
        emissions = data.get("emissions")
        data["emissions"] = from_dict(Emissions, emissions) if emissions else None
        data["datasets"] = {role: from_dict(DatasetSummary, d)
                            for role, d in (data.get("datasets") or {}).items()}
        return from_dict(cls, data)


METRICS_KEYS = tuple(f.name for f in dataclasses.fields(MetricsRecord))
