"""Grid analysis: the full model's cell, the cheapest cut within a tolerance, the frontier."""

from __future__ import annotations

import pytest

from workbench.evaluators import pareto


def test_full_cell_is_last_layer_widest_dim(toy_grid):
    full = pareto.full_cell(toy_grid)
    assert (full["layer"], full["dim"]) == (3, 32)


def test_cheapest_within_tolerance(toy_grid):
    # full model L3/32 = 0.876; within 1% (>= 0.8672): L3/32, L3/16 -> same latency, fewer bytes
    one = pareto.cheapest_within(toy_grid, 0.01)
    assert (one["layer"], one["dim"]) == (3, 16)
    # within 5% (>= 0.8322): L1/32 (0.836) qualifies and is the fastest; L1/16 (0.828) does not
    five = pareto.cheapest_within(toy_grid, 0.05)
    assert (five["layer"], five["dim"]) == (1, 32)


def test_pareto_frontier_is_monotone(toy_grid):
    front = pareto.pareto_frontier(toy_grid)
    assert front["latency_ms_per_1k"].is_monotonic_increasing
    assert front["spearman_cosine"].is_monotonic_increasing
    assert front["spearman_cosine"].iloc[-1] == toy_grid["spearman_cosine"].max()


def test_missing_columns_are_named(toy_grid):
    with pytest.raises(KeyError, match="latency_ms_per_1k"):
        pareto.pareto_frontier(toy_grid.drop(columns="latency_ms_per_1k"))
