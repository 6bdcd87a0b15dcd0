"""plots: pure functions that draw on the given axes and pick the right cells."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from workbench.reports import plots


@pytest.mark.parametrize("draw", [plots.heatmap, plots.per_layer, plots.per_dim, plots.pareto])
def test_grid_plots_draw_on_given_axes(toy_grid, draw):
    fig, ax = plt.subplots()
    assert draw(toy_grid, ax=ax) is ax
    assert ax.get_title()
    assert ax.has_data() or ax.images
    plt.close(fig)


def test_plots_create_axes_when_none_given(toy_grid):
    ax = plots.heatmap(toy_grid)
    assert ax.images and ax.images[0].get_array().shape == (3, 3)
    plt.close(ax.figure)


def test_training_curves_skip_missing_values_and_pick_headline_metrics():
    log = pd.DataFrame({"Epoch": [0.5, 1.0, 1.0], "Step": [1, 2, 3],
                        "Training Loss": [2.0, 1.5, np.nan], "Validation Loss": [np.nan, 1.4, "-"],
                        "sts-dev_spearman_cosine": [np.nan, 0.7, 0.8],
                        "sts-dev_pearson_dot": [np.nan, 0.1, 0.2]})
    fig, ax = plt.subplots()
    assert plots.training_curves(log, ax=ax) is ax
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["Training Loss", "Validation Loss"]
    assert plots.eval_metric_columns(log) == ["sts-dev_spearman_cosine"]
    assert len(ax.get_lines()[0].get_xdata()) == 2
    plt.close(fig)


def test_missing_column_is_named():
    with pytest.raises(KeyError, match="latency_ms_per_1k"):
        plots.pareto(pd.DataFrame({"layer": [1], "dim": [8], "spearman_cosine": [0.5]}))
