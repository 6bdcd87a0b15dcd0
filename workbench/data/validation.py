"""Dataset validation: every problem is refused naming the source, column, row and value.

Rows count from 0 (the first data row after a CSV header is row 0). Schemas per task:
``pair-score`` (STS: ``sentence1, sentence2, score`` with score in [0, 1]), ``pair-class`` (NLI:
``premise, hypothesis, label`` with 0 entailment, 1 neutral, 2 contradiction) and ``triplet``
(``anchor, positive, negative``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import datasets

from workbench.errors import WorkbenchError

NLI_LABELS = ("entailment", "neutral", "contradiction")
TASK_COLUMNS = {
    "pair-score": ("sentence1", "sentence2", "score"),
    "pair-class": ("premise", "hypothesis", "label"),
    "triplet": ("anchor", "positive", "negative"),
}
"""The columns each task needs; texts first, then the score or label column."""
TASK_NAMES = {"pair-score": "STS pairs with similarity scores",
              "pair-class": "NLI pairs with class labels", "triplet": "triplets"}
TEXT_COLUMNS = {"sentence1", "sentence2", "premise", "hypothesis", "anchor", "positive",
                "negative"}


class DataValidationError(WorkbenchError, ValueError):
    """A dataset that would train or evaluate on bad rows; the message names the row."""


def _closest_task(columns: Sequence[str]) -> str:
    return max(TASK_COLUMNS, key=lambda t: len(set(TASK_COLUMNS[t]) & set(columns)))


def infer_task(columns: Sequence[str], source: str = "dataset") -> str:
    """The task whose required columns ``columns`` contain; else name the missing columns."""
    for task, needed in TASK_COLUMNS.items():
        if set(needed) <= set(columns):
            return task
    task = _closest_task(columns)
    missing = [c for c in TASK_COLUMNS[task] if c not in columns]
    raise DataValidationError(
        f"{source}: missing column(s) {missing} for {TASK_NAMES[task]} ({task}); columns present: "
        f"{list(columns)}. Expected one of " + "; ".join(
            f"{t}: {list(c)}" for t, c in TASK_COLUMNS.items()))


def check_task(actual: str, wanted: str, source: str) -> None:
    """Refuse data whose schema does not fit the task (e.g. NLI class labels used as STS scores)."""
    if actual == wanted:
        return
    why = ("; NLI class labels are not similarity scores"
           if {actual, wanted} == {"pair-class", "pair-score"} else "")
    raise DataValidationError(
        f"{source} holds {TASK_NAMES[actual]} ({', '.join(TASK_COLUMNS[actual])}), but this needs "
        f"{TASK_NAMES[wanted]} ({', '.join(TASK_COLUMNS[wanted])}){why}")


def validate_dataset(ds: datasets.Dataset, task: str, name: str = "dataset",
                     split: str | None = "?") -> datasets.Dataset:
    """Check rows, required columns, texts, scores and labels; raise naming the first bad row.

    ``split=None``: ``name`` alone names the source (a file path).
    """
    source = name if split is None else f"{name}/{split}"
    needed = TASK_COLUMNS[task]
    missing = [c for c in needed if c not in ds.column_names]
    if missing:
        raise DataValidationError(f"{source}: missing column(s) {missing} needed for task "
                                  f"'{task}'; columns present: {ds.column_names}")
    if len(ds) == 0:
        raise DataValidationError(f"{source} has no rows (only a header?)")
    validate_texts(ds, [c for c in needed if c in TEXT_COLUMNS], name, split)
    if "score" in needed:
        validate_scores(ds, "score", name, split)
    if "label" in needed:
        validate_labels(ds, "label", range(len(NLI_LABELS)), name, split)
    return ds


def _fail(name: str, split: str | None, column: str, row: int, value,
          why: str) -> DataValidationError:
    source = name if split is None else f"{name}/{split}"
    return DataValidationError(f"{source}: column '{column}' row {row}: {value!r} {why}")


def validate_texts(ds: datasets.Dataset, columns: Sequence[str], name: str = "dataset",
                   split: str | None = "?") -> None:
    """Every text is a non-empty, non-whitespace string."""
    for column in columns:
        for row, value in enumerate(ds.data.column(column).to_pylist()):
            if not isinstance(value, str) or not value.strip():
                raise _fail(name, split, column, row, value, "is not a non-empty text")


def _number(value) -> float | None:
    """``value`` as a float (numbers, or text holding one); None when it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


def validate_scores(ds: datasets.Dataset, column: str = "score", name: str = "dataset",
                    split: str | None = "?", low: float = 0.0, high: float = 1.0) -> None:
    """Every score is a finite number in [low, high]; a 0-5 scale is named as such."""
    values = ds.data.column(column).to_pylist()
    numbers = [_number(v) for v in values]
    for row, (value, number) in enumerate(zip(values, numbers, strict=True)):
        if number is None:
            raise _fail(name, split, column, row, value, "is not a number")
    finite = [n for n in numbers if math.isfinite(n)]
    hint = (f" (the scores look like a 0-5 scale, max {max(finite)}: divide them by 5)"
            if finite and high < max(finite) <= 5 * high and min(finite) >= low else "")
    for row, (value, number) in enumerate(zip(values, numbers, strict=True)):
        if not math.isfinite(number) or not low <= number <= high:
            raise _fail(name, split, column, row, value,
                        f"is not a finite score in [{low}, {high}]{hint}")
    if any(isinstance(v, str) for v in values):
        raise _fail(name, split, column, 0, values[0], "is text, not a number (the column holds "
                    "text; store the scores as numbers)")


def validate_labels(ds: datasets.Dataset, column: str = "label", known: Sequence[int] = (0, 1, 2),
                    name: str = "dataset", split: str | None = "?") -> None:
    """Every label is in the known set (labels written as words are named as such)."""
    allowed = set(known)
    for row, value in enumerate(ds.data.column(column).to_pylist()):
        if isinstance(value, str) and value.strip().lower() in NLI_LABELS:
            raise _fail(name, split, column, row, value, "is a label written as a word; write "
                        "class ids: " + ", ".join(f"{w} = {i}" for i, w in enumerate(NLI_LABELS)))
        if isinstance(value, bool) or value not in allowed:
            raise _fail(name, split, column, row, value, f"is not a known label {sorted(allowed)}")
