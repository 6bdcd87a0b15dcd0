"""Batch samplers over row indices: deterministic per (seed, epoch), resumable mid-epoch.

Each epoch's batches are a pure function of ``(seed, epoch)``, planned once when iteration starts,
so ``len()`` is exact and a trainer resumes by restoring ``state_dict()`` (epoch + batches already
yielded): the sampler then skips those batches without re-reading any data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

Rows = Sequence[Sequence[str]]


def text_rows(data: Any, columns: Sequence[str] | None = None) -> list[tuple[str, ...]]:
    """The texts of each row: a ``datasets.Dataset`` (its string columns, or ``columns``), a list
    of tuples or dicts of texts, or a list of strings (one column)."""
    if hasattr(data, "column_names"):
        if columns is None:
            columns = [c for c, f in data.features.items()
                       if getattr(f, "dtype", None) in ("string", "large_string")]
        return list(zip(*(data[c] for c in columns), strict=True)) if columns else []
    rows = []
    for row in data:
        if isinstance(row, str):
            rows.append((row,))
        elif isinstance(row, dict):
            keys = columns or [k for k, v in row.items() if isinstance(v, str)]
            rows.append(tuple(row[k] for k in keys))
        else:
            rows.append(tuple(row))
    return rows


class _EpochBatchSampler:
    """Shared machinery: per-epoch plans, ``set_epoch``, ``drop_last``, resume state."""

    def __init__(self, data: Any, batch_size: int, drop_last: bool = False, seed: int = 0,
                 group_by_length: bool = False, mega_batch_mult: int = 50,
                 columns: Sequence[str] | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.rows = text_rows(data, columns)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.seed = seed
        self.group_by_length = group_by_length
        self.mega_batch_mult = mega_batch_mult
        self.epoch = 0
        self._plan: tuple[int, list[list[int]]] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Iterate over epoch ``epoch``'s batches (a resumed trainer reads ``plan(epoch)`` and
        skips the batches it already trained on: the plan is a pure function of seed and epoch)."""
        self.epoch = epoch

    def _order(self, rng: np.random.Generator) -> list[int]:
        """A shuffled order; with ``group_by_length``, sorted by length inside mega-batches."""
        order = rng.permutation(len(self.rows)).tolist()
        if not self.group_by_length:
            return order
        size = self.batch_size * self.mega_batch_mult
        lengths = [sum(len(t) for t in row) for row in self.rows]
        return [i for start in range(0, len(order), size)
                for i in sorted(order[start:start + size], key=lambda i: -lengths[i])]

    def plan(self, epoch: int | None = None) -> list[list[int]]:
        """Every batch of ``epoch`` (default: the current one), in order."""
        epoch = self.epoch if epoch is None else epoch
        if self._plan is None or self._plan[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            batches = self._batches(self._order(rng))
            if self.group_by_length:  # long batches should not all come first
                batches = [batches[i] for i in rng.permutation(len(batches))]
            self._plan = (epoch, batches)
        return self._plan[1]

    def _batches(self, order: list[int]) -> list[list[int]]:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.plan())

    def __iter__(self) -> Iterator[list[int]]:
        return (list(batch) for batch in self.plan())


class ShuffledBatchSampler(_EpochBatchSampler):
    """Plain shuffled batches of ``batch_size`` rows (``drop_last`` drops the short tail).

    Args:
        data: a ``datasets.Dataset`` or a list of rows (only its length matters here).
        batch_size, drop_last, seed: as usual; the shuffle depends on (seed, epoch) only.
        group_by_length: sort rows by text length inside mega-batches of
            ``batch_size * mega_batch_mult`` rows, then shuffle the batches: less padding, faster.
    """

    def _batches(self, order: list[int]) -> list[list[int]]:
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches


class NoDuplicatesBatchSampler(_EpochBatchSampler):
    """Batches in which no text appears twice, across ALL text columns (for in-batch negatives).

    Walks the shuffled rows, deferring any row that shares a text with the batch being filled
    (as sentence-transformers' NoDuplicatesBatchSampler does); deferred rows open later batches.
    Every row appears exactly once per epoch, except, with ``drop_last=True``, the rows of the
    incomplete batches, which are held back. A row's own columns may repeat each other.

    Args:
        data: a ``datasets.Dataset`` (string columns are the texts; labels are ignored), or rows.
        batch_size, drop_last, seed: the plan depends on (seed, epoch) only.
        group_by_length, mega_batch_mult: see ``ShuffledBatchSampler``.
        columns: the text columns to compare (default: every string column).
    """

    def _fits(self, i: int, batch: list[int], seen: set[str]) -> bool:
        texts = self.rows[i]
        if len(batch) == self.batch_size or not seen.isdisjoint(texts):
            return False
        batch.append(i)
        seen.update(texts)
        return True

    def _batches(self, order: list[int]) -> list[list[int]]:
        batches: list[list[int]] = []
        carry: list[int] = []  # deferred rows, oldest first, tried before fresh ones
        pointer = 0
        while carry or pointer < len(order):
            batch: list[int] = []
            seen: set[str] = set()
            still = [i for i in carry if not self._fits(i, batch, seen)]
            while len(batch) < self.batch_size and pointer < len(order):
                if not self._fits(order[pointer], batch, seen):
                    still.append(order[pointer])
                pointer += 1
            if len(batch) == self.batch_size or not self.drop_last:
                batches.append(batch)
            carry = still
        return batches


SAMPLERS: dict[str, type[_EpochBatchSampler]] = {
    "no_duplicates": NoDuplicatesBatchSampler,
    "batch_sampler": ShuffledBatchSampler,
}
