"""Sampler properties: no duplicate text in a batch, coverage, determinism, drop_last, resume."""

from __future__ import annotations

import pytest

from workbench.data.samplers import SAMPLERS, NoDuplicatesBatchSampler, ShuffledBatchSampler

# 60 rows with heavy reuse: anchors repeat every 7 rows, some positives equal other anchors.
ROWS = [(f"anchor {i % 7}", f"positive {i}" if i % 5 else f"anchor {(i + 3) % 7}")
        for i in range(60)]


def texts_of(batch):
    return [t for i in batch for t in set(ROWS[i])]


@pytest.mark.parametrize("drop_last", [False, True])
def test_no_duplicate_text_within_a_batch(drop_last):
    sampler = NoDuplicatesBatchSampler(ROWS, batch_size=5, drop_last=drop_last, seed=3)
    batches = list(sampler)
    assert batches and len(batches) == len(sampler)
    for batch in batches:
        assert len(texts_of(batch)) == len(set(texts_of(batch)))
        if drop_last:
            assert len(batch) == 5


def test_every_row_exactly_once_without_drop_last():
    batches = list(NoDuplicatesBatchSampler(ROWS, batch_size=5, seed=1))
    seen = [i for b in batches for i in b]
    assert sorted(seen) == list(range(len(ROWS)))


def test_drop_last_holds_back_only_incomplete_batches():
    full = NoDuplicatesBatchSampler(ROWS, batch_size=5, seed=1)
    dropped = NoDuplicatesBatchSampler(ROWS, batch_size=5, seed=1, drop_last=True)
    kept = [b for b in full if len(b) == 5]
    assert list(dropped) == kept
    seen = [i for b in kept for i in b]
    assert len(seen) == len(set(seen))


def test_deterministic_per_seed_and_epoch():
    a = NoDuplicatesBatchSampler(ROWS, batch_size=5, seed=1)
    b = NoDuplicatesBatchSampler(ROWS, batch_size=5, seed=1)
    first = list(a)
    assert first == list(b) == list(a)
    a.set_epoch(1)
    assert list(a) != first
    assert list(NoDuplicatesBatchSampler(ROWS, batch_size=5, seed=2)) != first


def test_plan_is_a_pure_function_of_seed_and_epoch():
    sampler = NoDuplicatesBatchSampler(ROWS, batch_size=5, seed=4)
    everything = sampler.plan(2)
    assert sampler.epoch == 0  # planning an epoch moves nothing: a resumed trainer skips by index
    sampler.set_epoch(2)
    assert list(sampler) == everything == list(sampler)
    assert NoDuplicatesBatchSampler(ROWS, batch_size=5, seed=4).plan(2) == everything


def test_plain_shuffled_sampler_covers_and_drops_last():
    sampler = ShuffledBatchSampler(ROWS, batch_size=8, seed=0)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(60))
    assert [len(b) for b in batches] == [8] * 7 + [4]
    dropped = list(ShuffledBatchSampler(ROWS, batch_size=8, seed=0, drop_last=True))
    assert dropped == batches[:-1]
    assert batches != sorted(batches)


def test_group_by_length_makes_batches_of_similar_length():
    rows = [("x" * (1 + (i * 37) % 97),) for i in range(400)]
    spread = {}
    for grouped in (False, True):
        sampler = ShuffledBatchSampler(rows, batch_size=10, seed=0, group_by_length=grouped,
                                       mega_batch_mult=20)
        batches = list(sampler)
        assert sorted(i for b in batches for i in b) == list(range(400))
        lengths = [[len(rows[i][0]) for i in b] for b in batches]
        spread[grouped] = sum(max(b) - min(b) for b in lengths) / len(lengths)
    assert spread[True] < spread[False] / 4
    grouped = NoDuplicatesBatchSampler(ROWS, batch_size=5, seed=0, group_by_length=True)
    assert sorted(i for b in grouped for i in b) == list(range(60))


def test_registry_and_datasets_input():
    from datasets import Dataset

    data = Dataset.from_dict({"anchor": ["a", "b", "a", "c"], "positive": ["x", "a", "y", "z"],
                              "score": [1.0, 0.5, 0.2, 0.1]})
    sampler = SAMPLERS["no_duplicates"](data, batch_size=2, seed=0)
    assert sampler.rows == [("a", "x"), ("b", "a"), ("a", "y"), ("c", "z")]
    for batch in sampler:
        texts = [t for i in batch for t in sampler.rows[i]]
        assert len(texts) == len(set(texts))
    assert SAMPLERS["batch_sampler"] is ShuffledBatchSampler
