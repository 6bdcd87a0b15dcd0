"""Which columns of a dataset are texts and which one holds the label (score or class)."""

from __future__ import annotations

from collections.abc import Sequence

LABEL_COLUMNS = ("score", "label", "labels", "scores")
"""Names a label column goes by; where a dataset has several, the first here wins."""


def split_columns(column_names: Sequence[str]) -> tuple[list[str], str | None]:
    """Text columns (in order) and the label column (``score``/``label``...), if any."""
    labels = [c for c in column_names if c in LABEL_COLUMNS]
    texts = [c for c in column_names if c not in LABEL_COLUMNS]
    return texts, (labels[0] if labels else None)
