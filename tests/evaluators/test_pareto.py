"""Grid analysis: the full model's cell, the cheapest cut within a tolerance, the frontier."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.evaluators import pareto


@pytest.fixture()
def grid() -> pd.DataFrame:
    rows = []
    for layer in (1, 2, 3):
        for dim in (32, 16, 8):
            rows.append({"layer": layer, "dim": dim,
                         "spearman_cosine": 0.8 + 0.02 * layer + 0.0005 * dim,
                         "latency_ms_per_1k": 10.0 * layer, "bytes_per_vector": 4 * dim})
    return pd.DataFrame(rows)


def test_full_cell_is_last_layer_widest_dim(grid):
    full = pareto.full_cell(grid)
    assert (full["layer"], full["dim"]) == (3, 32)


def test_cheapest_within_tolerance(grid):
    # full model L3/32 = 0.876; within 1% (>= 0.8672): L3/32, L3/16 -> same latency, fewer bytes
    one = pareto.cheapest_within(grid, 0.01)
    assert (one["layer"], one["dim"]) == (3, 16)
    # within 5% (>= 0.8322): L1/32 (0.836) qualifies and is the fastest; L1/16 (0.828) does not
    five = pareto.cheapest_within(grid, 0.05)
    assert (five["layer"], five["dim"]) == (1, 32)


def test_pareto_frontier_is_monotone(grid):
    front = pareto.pareto_frontier(grid)
    assert front["latency_ms_per_1k"].is_monotonic_increasing
    assert front["spearman_cosine"].is_monotonic_increasing
    assert front["spearman_cosine"].iloc[-1] == grid["spearman_cosine"].max()


def test_missing_columns_are_named(grid):
    with pytest.raises(KeyError, match="latency_ms_per_1k"):
        pareto.pareto_frontier(grid.drop(columns="latency_ms_per_1k"))
