"""Batches for the loop: sampler indices per epoch, sharded over processes, then collated.

Collation pads features tokenised once up front: each text column (bi-encoder: one feature dict
per column), or the pairs jointly (cross-encoder: one feature dict); labels come from the
``label``/``score`` column as floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from workbench.data.columns import split_columns
from workbench.fast.padding import pad_like
from workbench.fast.tokens import token_columns
from workbench.training.config import TrainConfig


@dataclass
class Columns:
    """The training data as Python lists (fast indexing), split into texts and labels."""

    names: list[str]
    texts: list[list[str]]
    labels: list[float] | None
    tokens: list[dict[str, list[list[int]]]] | None = None
    """Each text column tokenised once (bi-encoders), see :meth:`pretokenize`."""
    token_key: tuple | None = None
    max_length: int | None = None
    """Truncation of the training batches (``TrainConfig.max_seq_length``); ``None``: the
    model's own ``max_seq_length`` / ``max_length``, which training never changes."""

    @classmethod
    def from_dataset(cls, dataset: Any, max_length: int | None = None) -> Columns:
        names, label = split_columns(dataset.column_names)
        texts = [[str(t) for t in dataset[c]] for c in names]
        labels = [float(v) for v in dataset[label]] if label is not None else None
        return cls(names, texts, labels, max_length=max_length)

    def pretokenize(self, model: Any) -> None:
        """Tokenise once (truncated, unpadded): each text column, or the pairs of a cross-encoder.

        ``collate`` then only pads. Same ids as ``model.tokenize`` per batch: the tokenizer encodes
        each text (or pair, truncated ``longest_first``) on its own.
        """
        pairs = is_cross_encoder(model)
        length = self.max_length or (model.max_length if pairs else model.max_seq_length)
        key = (id(model.tokenizer), length, pairs)
        if self.token_key == key:
            return
        calls = [self.texts[:2]] if pairs else [[col] for col in self.texts]
        self.tokens = [token_columns(model.tokenizer, *texts, max_length=length) for texts in calls]
        self.token_key = key

    def rows(self, idx: Sequence[int]) -> dict[str, list[str]]:
        return {n: [col[i] for i in idx] for n, col in zip(self.names, self.texts, strict=True)}


def make_sampler(dataset: Any, config: TrainConfig, batch_size: int | None = None) -> Any:
    """The configured batch sampler (registry ``workbench.data.samplers.SAMPLERS``)."""
    from workbench.data.samplers import SAMPLERS

    cls = SAMPLERS[config.batch_sampler]
    return cls(dataset, batch_size=batch_size or config.per_device_train_batch_size,
               drop_last=config.dataloader_drop_last, seed=config.seed,
               group_by_length=config.group_by_length)


def epoch_batches(sampler: Any, epoch: int, rank: int = 0, world: int = 1) -> list[list[int]]:
    """This process's batches of ``epoch``: every ``world``-th batch, the same count on each rank."""
    batches = [list(b) for b in sampler.plan(epoch)]  # workbench.data.samplers: pure in epoch
    per_rank = len(batches) // world if world > 1 else len(batches)
    return batches[rank::world][:per_rank]


def is_cross_encoder(model: Any) -> bool:
    return not hasattr(model, "encode_layers") and hasattr(model, "predict")


def collate(model: Any, data: Columns, idx: Sequence[int]
            ) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor | None]:
    """Feature dicts (one per text column, or one of pairs) and the float labels of ``idx``."""
    data.pretokenize(model)
    features = [pad_like(model.tokenizer, col, idx) for col in data.tokens]
    labels = None if data.labels is None else torch.tensor([data.labels[i] for i in idx])
    return features, labels


