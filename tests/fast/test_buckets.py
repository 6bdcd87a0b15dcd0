"""CPU attention buckets: the cost model's cuts are the cheapest partition of the sorted lengths."""

from __future__ import annotations

import random

import torch

from workbench.fast import unpadded


def _cost(lengths: list[int], sizes: list[int]) -> int:
    total, start = 0, 0
    for n in sizes:
        longest = lengths[start]
        total += unpadded.BUCKET_OVERHEAD + n * longest * (unpadded.ROW_COST + longest)
        start += n
    return total


def _cheapest(lengths: list[int]) -> int:
    """Every way to cut the sorted lengths into consecutive buckets, tried."""
    best = None
    for cuts in range(1 << (len(lengths) - 1)):
        sizes, size = [], 1
        for bit in range(len(lengths) - 1):
            if cuts >> bit & 1:
                sizes, size = [*sizes, size], 1
            else:
                size += 1
        cost = _cost(lengths, [*sizes, size])
        best = cost if best is None else min(best, cost)
    return best


def test_cost_buckets_find_the_cheapest_partition():
    rng = random.Random(0)
    for _ in range(200):
        lengths = sorted((rng.choice([3, 8, 12, 20, 40, 64, 100]) + rng.randint(0, 2)
                          for _ in range(rng.randint(1, 10))), reverse=True)
        sizes = unpadded._cost_buckets(lengths)
        assert sum(sizes) == len(lengths) and min(sizes) > 0
        assert _cost(lengths, sizes) == _cheapest(lengths)


def test_equal_lengths_share_a_bucket_and_far_lengths_do_not():
    assert unpadded._cost_buckets([9] * 40) == [40]
    assert unpadded._cost_buckets([120] * 4 + [6] * 30) == [4, 30]


def test_buckets_cover_every_sequence_once_longest_first():
    lengths = torch.tensor([5, 40, 7, 7, 33, 12, 6, 64, 9])
    buckets = unpadded._buckets(lengths, None)
    order = torch.cat(buckets)
    assert sorted(order.tolist()) == list(range(len(lengths)))
    assert lengths[order].tolist() == sorted(lengths.tolist(), reverse=True)
    assert [len(b) for b in unpadded._buckets(lengths, 4)] == [4, 4, 1]
