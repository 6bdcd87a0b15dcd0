"""Evaluation tasks by name, suite or path: STS pairs, pair classification, retrieval.

A task is data plus the kind of metric computed from a cell's embeddings (``kind``):
``sts`` (Spearman of cosine vs gold, main ``spearman_cosine``), ``pair-class`` (threshold
classification, main ``cosine_ap``) and ``retrieval`` (main ``ndcg@10``).

Names: ``stsb``, ``sickr``, ``sts12`` ... ``sts16``, ``scifact``, the NanoBEIR sets
(``NanoSciFact`` ...), ``snli`` (entailment vs contradiction pairs). Suites (:data:`SUITES`):
``sts-suite`` = STSB test + SICK-R + STS12-16 (mean and per set, as MTEB reports) and
``retrieval`` = SciFact + the 13 NanoBEIR sets. A suite keeps the members whose data exists and
warns which are missing (offline: stsb, sickr, sts12, sts13; scifact).
Resolution of a named task: ``<data_dir or WORKBENCH_DATA>/<folder>/<split>.parquet`` (pairs) or
the BEIR/MTEB folder (retrieval); else the Hub id (``mteb/sts12-sts`` ...; their 0-5 / 1-5 scores
are mapped onto [0, 1] as the local files are). **SICK-R's test split is not available offline:
its ``train`` split (4,500 pairs, same distribution, never trained on here) stands in**; online
``mteb/sickr-sts`` test is used. A path works too: a ``.parquet``/``.csv`` pair file, a folder
holding ``<split>.parquet``, or a BEIR/MTEB retrieval folder.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench import settings
from workbench.data import datasets as ds_mod
from workbench.data.datasets import DataNotFoundError
from workbench.data.pairs import pair_columns
from workbench.data.retrieval import (
    HUB_IDS,
    NANOBEIR,
    RetrievalData,
    is_retrieval_folder,
    load_retrieval,
)

KINDS = ("sts", "pair-class", "retrieval")
MAIN_METRICS = {"sts": "spearman_cosine", "pair-class": "cosine_ap", "retrieval": "ndcg@10"}
SICKR_OFFLINE_SPLIT = "train"


@dataclass(frozen=True)
class TaskSpec:
    """Where a named task's data lives: local ``folder/split`` and the Hub (id, split, score range)."""

    kind: str
    folder: str
    split: str = "test"
    hub_id: str | None = None
    hub_split: str = "test"
    score_range: tuple[float, float] = (0.0, 5.0)


TASKS: dict[str, TaskSpec] = {
    "stsb": TaskSpec("sts", "stsb", hub_id="mteb/stsbenchmark-sts"),
    "sickr": TaskSpec("sts", "sickr", SICKR_OFFLINE_SPLIT, "mteb/sickr-sts", score_range=(1.0, 5.0)),
    **{f"sts{y}": TaskSpec("sts", f"sts{y}", hub_id=f"mteb/sts{y}-sts") for y in range(12, 17)},
    "scifact": TaskSpec("retrieval", "scifact", hub_id=HUB_IDS["scifact"]),
    **{f"Nano{n}": TaskSpec("retrieval", f"Nano{n}", "train", HUB_IDS[f"nano{n.lower()}"], "train")
       for n in NANOBEIR},
    "snli": TaskSpec("pair-class", "snli", "validation"),
}
SUITES: dict[str, tuple[str, ...]] = {
    "sts-suite": ("stsb", "sickr", "sts12", "sts13", "sts14", "sts15", "sts16"),
    "retrieval": ("scifact", *(f"Nano{n}" for n in NANOBEIR)),
}


@dataclass
class Task:
    """Loaded task data.

    Args:
        name: the key prefix of its metrics (``stsb``, ``scifact``, a file's stem).
        kind: one of :data:`KINDS`.
        source: where the data came from (file, folder or Hub id and split).
        pairs: ``(sentences1, sentences2, labels)`` for ``sts`` / ``pair-class``.
        retrieval: queries, corpus, qrels for ``retrieval``.
        suite: the suite it was loaded for, if any.
    """

    name: str
    kind: str
    source: str
    pairs: tuple[list[str], list[str], np.ndarray] | None = None
    retrieval: RetrievalData | None = None
    suite: str | None = None

    @property
    def main_metric(self) -> str:
        return MAIN_METRICS[self.kind]

    def __repr__(self) -> str:
        size = (f"{len(self.pairs[0])} pairs" if self.pairs else repr(self.retrieval))
        return f"Task({self.name}, {self.kind}, {size}, from {self.source})"


def _pair_task(name: str, table, source: str, max_pairs: int | None, kind: str | None = None) -> Task:
    task = kind or ("sts" if "score" in table.column_names else "pair-class")
    s1, s2, labels = pair_columns(table, "score" if task == "sts" else "label")
    if max_pairs is not None:
        s1, s2, labels = s1[:max_pairs], s2[:max_pairs], labels[:max_pairs]
    return Task(name, task, source, pairs=(s1, s2, labels))


def _load_named_pairs(name: str, spec: TaskSpec, data_dir, max_pairs: int | None) -> Task:
    if spec.kind == "pair-class":
        data = ds_mod.nli_binary_pairs(spec.split, name, data_dir)
        return _pair_task(name, data, f"{name}/{spec.split} (entailment 1, contradiction 0)",
                          max_pairs, "pair-class")
    folders = [Path(d).expanduser() for d in (data_dir, settings.data_dir()) if d is not None]
    for folder in folders:
        file = folder / spec.folder / f"{spec.split}.parquet"
        if file.is_file():
            data = ds_mod.load_dataset(str(file))
            return _pair_task(name, data, str(file), max_pairs, "sts")
    try:
        return _pair_task(name, _hub_pairs(spec), f"{spec.hub_id}:{spec.hub_split}", max_pairs, "sts")
    except Exception as err:  # offline or missing
        looked = [str(f / spec.folder / f"{spec.split}.parquet") for f in folders] or [
            f"no local folder (neither data_dir nor {settings.DATA_ENV} is set)"]
        raise DataNotFoundError(
            f"task '{name}' not found. Looked for: {'; '.join(looked)}; then the Hub id "
            f"'{spec.hub_id}' split '{spec.hub_split}' failed ({type(err).__name__}: "
            f"{str(err)[:160]}). Fix: set {settings.DATA_ENV} to a folder holding "
            f"{spec.folder}/{spec.split}.parquet, or go online.") from err


def _hub_pairs(spec: TaskSpec):
    """The real Hub path: an MTEB STS set with its scores mapped onto [0, 1]."""
    import datasets

    data = datasets.load_dataset(spec.hub_id, split=spec.hub_split)
    low, high = spec.score_range
    data = data.map(lambda s: {"score": (float(s) - low) / (high - low)}, input_columns="score")
    ds_mod.validate_dataset(data, "pair-score", spec.hub_id, spec.hub_split)
    return data.select_columns(["sentence1", "sentence2", "score"])


def _load_path(path: Path, split: str, max_pairs, max_queries, max_corpus) -> Task:
    if path.is_dir() and is_retrieval_folder(path):
        data = load_retrieval(path, split, max_queries=max_queries, max_corpus=max_corpus)
        return Task(path.name, "retrieval", str(path), retrieval=data)
    file = path / f"{split}.parquet" if path.is_dir() else path
    if not file.is_file():
        raise DataNotFoundError(f"task path {path}: found neither a BEIR/MTEB retrieval folder "
                                f"(corpus + queries + qrels/{split}) nor {file}")
    import datasets
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    data = datasets.Dataset(pq.read_table(file) if file.suffix == ".parquet" else pa_csv.read_csv(file))
    name = path.name if path.is_dir() else path.stem
    if "score" in data.column_names:
        ds_mod.validate_dataset(data, "pair-score", name, split)
    else:  # pair classification: two text columns and 0/1 labels
        texts = [c for c in data.column_names if c in ds_mod.TEXT_COLUMNS][:2]
        ds_mod.validate_texts(data, texts, name, split)
        ds_mod.validate_labels(data, "label", (0, 1), name, split)
    return _pair_task(name, data, str(file), max_pairs)


def load_task(name: str | Path, data_dir: str | Path | None = None, split: str | None = None,
              max_pairs: int | None = None, max_queries: int | None = None,
              max_corpus: int | None = None) -> Task:
    """One task by name (:data:`TASKS`) or path; the ``max_*`` keep small subsets (smoke runs)."""
    key = str(name)
    if key not in TASKS:
        path = Path(key).expanduser()
        if path.exists():
            return _load_path(path, split or "test", max_pairs, max_queries, max_corpus)
        raise DataNotFoundError(f"unknown task '{key}' and no such file or folder; tasks: "
                                f"{', '.join(TASKS)}; suites: {', '.join(SUITES)}")
    spec = TASKS[key]
    if spec.kind == "retrieval":
        data = load_retrieval(key, split or spec.split, data_dir, max_queries, max_corpus)
        return Task(key, "retrieval", f"{key}/{data.split}", retrieval=data)
    return _load_named_pairs(key, spec, data_dir, max_pairs)


def load_tasks(names: Sequence[str | Path], data_dir: str | Path | None = None, **limits) -> list[Task]:
    """Tasks for names, suites and paths, in order, without repeats.

    A suite keeps the members whose data exists and warns naming the missing ones; it fails
    only when none exists. ``limits``: ``max_pairs``, ``max_queries``, ``max_corpus``, ``split``.
    """
    tasks: dict[str, Task] = {}
    for name in names:
        if str(name) not in SUITES:
            task = load_task(name, data_dir, **limits)
            tasks.setdefault(task.name, task)
            continue
        missing = []
        for member in SUITES[str(name)]:
            try:
                task = load_task(member, data_dir, **limits)
            except DataNotFoundError:
                missing.append(member)
                continue
            task.suite = str(name)
            tasks.setdefault(member, task)
        if len(missing) == len(SUITES[str(name)]):
            raise DataNotFoundError(f"suite '{name}': no member's data found ({', '.join(missing)})")
        if missing:
            warnings.warn(f"suite '{name}': skipping {', '.join(missing)} (data not found offline)",
                          stacklevel=2)
    return list(tasks.values())
