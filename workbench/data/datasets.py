"""Datasets by name (stsb, snli, mnli, allnli) or by file, validated before anything trains.

Resolution for a named split: an explicit ``data_dir`` or the ``WORKBENCH_DATA`` folder holding
``<name>/<split>.parquet``; otherwise the Hub id through ``datasets.load_dataset``. When neither
works, one :class:`DataNotFoundError` says what was looked for and how to fix it.
Schemas follow the Hub: stsb ``sentence1, sentence2, score`` (score in [0, 1]); snli/mnli
``premise, hypothesis, label`` (0 entailment, 1 neutral, 2 contradiction); allnli ``anchor,
positive, negative``. No NLI train split exists offline: :func:`allnli_offline_train` is the
offline default (allnli dev + test, 13,193 triplets).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from workbench import settings
from workbench.data.files import looks_like_path, read_data_file
from workbench.data.validation import (  # noqa: F401  (re-exported: the data API lives here)
    NLI_LABELS,
    TASK_COLUMNS,
    TEXT_COLUMNS,
    DataValidationError,
    check_task,
    infer_task,
    validate_dataset,
    validate_labels,
    validate_scores,
    validate_texts,
)
from workbench.errors import ParameterError, WorkbenchError

ENTAILMENT, NEUTRAL, CONTRADICTION = 0, 1, 2


class DataNotFoundError(WorkbenchError, FileNotFoundError):
    """A dataset split or data file found neither locally nor on the Hub."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where a named dataset lives and how its splits are called."""

    hub_id: str
    task: str
    config: str | None = None
    splits: tuple[str, ...] = ("train", "validation", "test")
    aliases: dict[str, str] = field(default_factory=dict)


DATASETS = {
    "stsb": DatasetSpec("sentence-transformers/stsb", "pair-score",
                        aliases={"dev": "validation", "val": "validation"}),
    "snli": DatasetSpec("stanfordnlp/snli", "pair-class",
                        aliases={"dev": "validation", "val": "validation"}),
    "mnli": DatasetSpec("nyu-mll/multi_nli", "pair-class",
                        splits=("train", "validation_matched", "validation_mismatched"),
                        aliases={"dev": "validation_matched", "validation": "validation_matched",
                                 "val": "validation_matched", "test": "validation_mismatched",
                                 "dev_mismatched": "validation_mismatched"}),
    "allnli": DatasetSpec("sentence-transformers/all-nli", "triplet", config="triplet",
                          splits=("train", "dev", "test"),
                          aliases={"validation": "dev", "val": "dev"}),
}


def canonical_split(name: str, split: str) -> str:
    """The split's Hub name (e.g. snli ``dev`` -> ``validation``, allnli ``validation`` -> ``dev``)."""
    spec = _spec(name)
    split = spec.aliases.get(split, split)
    if split not in spec.splits:
        raise ParameterError(f"dataset '{name}' has no split '{split}'; splits: {', '.join(spec.splits)}"
                             f" (aliases: {', '.join(sorted(spec.aliases)) or 'none'})")
    return split


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ParameterError(f"unknown dataset '{name}'; choose one of {', '.join(DATASETS)} "
                             "or pass a path to a .parquet/.csv file")
    return DATASETS[name]


def load_dataset(name: str, split: str = "test", data_dir: str | Path | None = None,
                 max_samples: int | None = None, validate: bool = True,
                 task: str | None = None) -> datasets.Dataset:
    """Load a split of ``name`` (stsb, snli, mnli, allnli) or a .parquet/.csv file path.

    The split is validated (see :func:`validate_dataset`) before ``max_samples`` (>= 1) keeps its
    first rows. ``task`` (e.g. ``"pair-score"``): refuse data of another schema, such as NLI
    class labels where STS scores are needed.
    """
    if max_samples is not None and (isinstance(max_samples, bool) or max_samples < 1):
        raise ParameterError(f"max_samples must be >= 1 (or None for every row), got {max_samples!r}")
    if name not in DATASETS and looks_like_path(str(name)):
        ds = read_data_file(name, not_found=DataNotFoundError)
        source, split_label = str(Path(name).expanduser()), None
        data_task = infer_task(ds.column_names, source)
    else:
        split = canonical_split(name, split)
        if task is not None:  # known from the name: refuse before loading
            check_task(DATASETS[name].task, task, f"{name}/{split}")
        ds, data_task = _resolve(name, split, data_dir), DATASETS[name].task
        source, split_label = name, split
    if validate:
        validate_dataset(ds, data_task, source, split_label)
    if task is not None:
        check_task(data_task, task, source if split_label is None else f"{source}/{split_label}")
    if max_samples is not None and max_samples < len(ds):
        ds = ds.select(range(max_samples))
    return ds


def _resolve(name: str, split: str, data_dir: str | Path | None) -> datasets.Dataset:
    folders = [Path(d).expanduser() for d in (data_dir, settings.data_dir()) if d is not None]
    for folder in folders:
        file = folder / name / f"{split}.parquet"
        if file.is_file():
            return _with_hub_features(name, read_data_file(file))
    try:
        return _load_hub(name, split)
    except Exception as err:  # offline, unknown split, no network: one clear error below
        raise _not_found(name, split, folders, err) from err


def _load_hub(name: str, split: str) -> datasets.Dataset:
    """The real Hub path: ``datasets.load_dataset`` with the Hub id, restricted to our schema."""
    spec = DATASETS[name]
    ds = datasets.load_dataset(spec.hub_id, spec.config, split=split)
    ds = ds.select_columns(list(TASK_COLUMNS[spec.task]))
    if spec.task == "pair-class":  # the Hub keeps no-consensus pairs as label -1; drop them
        ds = ds.filter(lambda label: label >= 0, input_columns="label")
    return _with_hub_features(name, ds)


def _with_hub_features(name: str, ds: datasets.Dataset) -> datasets.Dataset:
    if DATASETS[name].task == "pair-class":
        return ds.cast_column("label", datasets.ClassLabel(names=list(NLI_LABELS)))
    return ds


def _not_found(name: str, split: str, folders: list[Path], err: Exception) -> DataNotFoundError:
    looked = [str(f / name / f"{split}.parquet") for f in folders] or [
        f"no local folder (neither data_dir nor {settings.DATA_ENV} is set)"]
    hint = ""
    if name in ("snli", "mnli", "allnli") and split == "train":
        hint = (" No NLI train split exists offline: use workbench.data.datasets.allnli_offline_train() "
                "(allnli dev + test, 13,193 triplets).")
    return DataNotFoundError(
        f"dataset '{name}' split '{split}' not found. Looked for: {'; '.join(looked)}; then the "
        f"Hub id '{DATASETS[name].hub_id}' failed ({type(err).__name__}: {str(err)[:200]}). "
        f"Fix: set {settings.DATA_ENV} to a folder holding {name}/{split}.parquet (e.g. "
        f"../shared/data) or pass data_dir=..., or go online (unset HF_HUB_OFFLINE / "
        f"HF_DATASETS_OFFLINE).{hint}")


# ---- helpers the experiments use ----------------------------------------------------------
def _pairs(ds: datasets.Dataset) -> datasets.Dataset:
    ds = ds.rename_columns({"premise": "sentence1", "hypothesis": "sentence2"})
    return ds.cast_column("label", datasets.Value("int64"))


def nli_pairs(split: str = "validation", keep: str = "entailment", dataset: str = "snli",
              data_dir: str | Path | None = None,
              max_samples: int | None = None) -> datasets.Dataset:
    """NLI pairs as ``sentence1, sentence2, label`` for in-batch-negatives losses (MNRL).

    ``keep="entailment"`` (default) keeps only entailment pairs, the positives MNRL assumes;
    ``keep="all"`` keeps every pair and warns how many contradiction pairs become "positives".
    """
    if keep not in ("entailment", "all"):
        raise ParameterError(f"snli_keep (keep) must be 'entailment' or 'all', not '{keep}'")
    ds = load_dataset(dataset, split, data_dir)
    if keep == "entailment":
        ds = ds.filter(lambda label: label == ENTAILMENT, input_columns="label")
    else:
        n = sum(1 for label in ds.data.column("label").to_pylist() if label == CONTRADICTION)
        warnings.warn(f"nli_pairs(keep='all') keeps {n} contradiction pairs of {dataset}/{split}"
                      " as positives", stacklevel=2)
    ds = _pairs(ds)
    return ds.select(range(min(max_samples, len(ds)))) if max_samples is not None else ds


def nli_binary_pairs(split: str = "validation", dataset: str = "snli",
                     data_dir: str | Path | None = None,
                     max_samples: int | None = None) -> datasets.Dataset:
    """Pairs for binary classification: entailment -> 1, contradiction -> 0, neutral dropped."""
    ds = load_dataset(dataset, split, data_dir)
    ds = _pairs(ds.filter(lambda label: label != NEUTRAL, input_columns="label"))
    ds = ds.map(lambda label: {"label": int(label == ENTAILMENT)}, input_columns="label")
    return ds.select(range(min(max_samples, len(ds)))) if max_samples is not None else ds


def allnli_offline_train(data_dir: str | Path | None = None,
                         max_samples: int | None = None) -> datasets.Dataset:
    """The offline NLI training default: allnli dev + test (6,584 + 6,609 = 13,193 triplets)."""
    ds = datasets.concatenate_datasets([load_dataset("allnli", "dev", data_dir),
                                        load_dataset("allnli", "test", data_dir)])
    return ds.select(range(min(max_samples, len(ds)))) if max_samples is not None else ds


def dataset_stats(ds: datasets.Dataset, tokenizer=None, max_rows: int | None = 1000) -> dict:
    """Sample count and per-column min/mean/max (text length in tokens, or chars without a
    tokenizer; numbers as values) over the first ``max_rows`` rows, as model cards show them."""
    rows = ds if max_rows is None or len(ds) <= max_rows else ds.select(range(max_rows))
    columns = {}
    for column in ds.column_names:
        values = rows.data.column(column).to_pylist()
        if values and isinstance(values[0], str):
            unit = "tokens" if tokenizer is not None else "chars"
            values = ([len(ids) for ids in tokenizer(values)["input_ids"]] if tokenizer is not None
                      else [len(v) for v in values])
            kind = "string"
        else:
            unit, kind = None, type(values[0]).__name__ if values else "empty"
        columns[column] = {"type": kind, "unit": unit, "min": min(values, default=None),
                           "mean": sum(values) / len(values) if values else None,
                           "max": max(values, default=None)}
    return {"samples": len(ds), "stats_rows": len(rows), "columns": columns}
