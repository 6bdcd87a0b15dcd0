"""Encode each text once for every layer, then serve any (layer, dim) cell from memory.

Mining (train and test queries against one corpus) and the retrieve-then-rerank grid ask for the
same corpus at several cells; :class:`EncodeCache` runs ONE ``encode_layers`` pass per new text
and slices from there, so the corpus is encoded once per notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from workbench.models.bi_encoder import truncate


class EncodeCache:
    """``encode`` / ``encode_layers`` of ``encoder`` over cached embeddings of ``layers``.

    Args:
        encoder: a ``BiEncoder`` (its ``num_layers``, ``normalize``, ``check_cell`` are used).
        layers: the layers kept for every text (default: all).
        batch_size, precision: of the one encode pass per batch of new texts.
    """

    def __init__(self, encoder: Any, layers: Sequence[int] | None = None, batch_size: int = 32,
                 precision: str = "fp32") -> None:
        self.encoder = encoder
        self.layers = sorted(layers or range(1, encoder.num_layers + 1))
        self.batch_size, self.precision = batch_size, precision
        self.rows: dict[str, int] = {}
        self.table: dict[int, list[torch.Tensor]] = {k: [] for k in self.layers}

    @property
    def num_layers(self) -> int:
        return self.encoder.num_layers

    def _fill(self, texts: Sequence[str], show_progress: bool | None) -> None:
        new = [t for t in dict.fromkeys(texts) if t not in self.rows]
        if not new:
            return
        out = self.encoder.encode_layers(new, self.layers, self.batch_size, self.precision,
                                         show_progress=show_progress)
        start = len(self.rows)
        self.rows.update({t: start + i for i, t in enumerate(new)})
        for k in self.layers:
            self.table[k].append(out[k].float())

    def encode_layers(self, texts: Sequence[str], layers: Sequence[int] | None = None,
                      batch_size: int | None = None, precision: str | None = None,
                      show_progress: bool | None = None) -> dict[int, torch.Tensor]:
        """``{layer: (N, H)}`` for ``texts`` (only cached layers; new texts encoded once)."""
        missing = sorted(set(layers or self.layers) - set(self.layers))
        if missing:
            raise ValueError(f"layers {missing} are not cached (cache holds {self.layers})")
        self._fill(texts, show_progress)
        idx = torch.tensor([self.rows[t] for t in texts], dtype=torch.long)
        for k in self.layers:
            if len(self.table[k]) > 1:
                self.table[k] = [torch.cat(self.table[k])]
        return {k: self.table[k][0][idx] for k in (layers or self.layers)}

    def encode(self, texts: Sequence[str], layer: int | None = None, dim: int | None = None,
               batch_size: int | None = None, precision: str | None = None,
               show_progress: bool | None = None) -> torch.Tensor:
        """One cell, as ``BiEncoder.encode``: ``dim`` slices and re-normalises."""
        layer = layer or self.num_layers
        self.encoder.check_cell(layer, dim)
        emb = self.encode_layers(texts, [layer], show_progress=show_progress)[layer]
        return truncate(emb, dim, self.encoder.normalize) if dim else emb
