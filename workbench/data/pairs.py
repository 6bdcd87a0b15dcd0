"""Pair datasets as ``(sentences1, sentences2, labels)``: the one reader every task and evaluator uses."""

from __future__ import annotations

from typing import Any

import numpy as np

LABEL_COLUMNS = ("score", "label", "labels", "scores")


def pair_columns(data: Any, label_column: str | None = None
                 ) -> tuple[list[str], list[str], np.ndarray]:
    """Read ``(sentences1, sentences2, labels)`` from a pair dataset.

    Accepts a ``(s1, s2, labels)`` tuple, a ``datasets.Dataset`` or a ``pandas.DataFrame``. The
    texts are the first two string columns; labels come from ``label_column`` or the first of
    ``score``/``label``/``labels``/``scores`` present.
    """
    if isinstance(data, tuple) and len(data) == 3:
        s1, s2, labels = data
        return _checked(list(s1), list(s2), np.asarray(labels))
    if not hasattr(data, "column_names") and not hasattr(data, "columns"):
        raise TypeError(f"expected a Dataset, a DataFrame or a (sentences1, sentences2, labels) "
                        f"tuple; got {type(data).__name__}")
    names = list(data.column_names if hasattr(data, "column_names") else data.columns)
    first_rows = {c: data[c][:1] if hasattr(data, "column_names") else list(data[c][:1]) for c in names}
    texts = [c for c in names if first_rows[c] and isinstance(first_rows[c][0], str)]
    label = label_column or next((c for c in LABEL_COLUMNS if c in names), None)
    if len(texts) < 2 or label is None:
        raise ValueError(f"need two text columns and a label column ({'/'.join(LABEL_COLUMNS)}); "
                         f"got columns {names}")
    return _checked(list(data[texts[0]]), list(data[texts[1]]), np.asarray(data[label]))


def _checked(s1: list[str], s2: list[str], labels: np.ndarray
             ) -> tuple[list[str], list[str], np.ndarray]:
    if not len(s1) == len(s2) == len(labels):
        raise ValueError(f"pair columns differ in length: {len(s1)}, {len(s2)}, {len(labels)} labels")
    if len(s1) == 0:
        raise ValueError("no pairs to evaluate")
    return s1, s2, labels
