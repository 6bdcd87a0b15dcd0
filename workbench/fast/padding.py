"""Padding of pre-tokenised rows: texts are tokenised once, each batch only pads."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pad_rows(columns: dict[str, list[list[int]]], idx: Sequence[int], pad_id: int,
             left: bool = False) -> dict[str, torch.Tensor]:
    """Rows ``idx`` of pre-tokenised features padded to the longest, as ``tokenizer(padding=True)``."""
    width = max(len(columns["input_ids"][i]) for i in idx)
    out = {}
    for key, rows in columns.items():
        fill = [pad_id if key == "input_ids" else 0] * width
        out[key] = torch.tensor([fill[:width - len(rows[i])] + rows[i] if left else
                                 rows[i] + fill[:width - len(rows[i])] for i in idx],
                                dtype=torch.long)
    return out


def pad_id(tokenizer) -> int:
    """The id ``tokenizer`` pads with (0 if it has none)."""
    return tokenizer.pad_token_id or 0


def pad_like(tokenizer, columns: dict[str, list[list[int]]], idx: Sequence[int]
             ) -> dict[str, torch.Tensor]:
    """:func:`pad_rows` with ``tokenizer``'s pad id and padding side."""
    left = getattr(tokenizer, "padding_side", "right") == "left"
    return pad_rows(columns, idx, pad_id(tokenizer), left)
