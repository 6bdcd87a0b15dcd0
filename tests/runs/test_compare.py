"""Run comparison helpers and the two viewer notebooks executed on synthetic run folders."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pytest
from run_factory import make_run_folder

from workbench.reports import compare_plots
from workbench.runs import compare

matplotlib.use("Agg")
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture()
def two_runs(tmp_path, tiny_bert_dir):
    a = make_run_folder(tmp_path, tiny_bert_dir, name="20250101-a")
    b = make_run_folder(tmp_path, tiny_bert_dir, name="20250102-b", shift=-0.1,
                        params={"learning_rate": 1e-4})
    return a, b


def test_differing_parameters_and_headline_metrics(two_runs):
    runs = [compare.load_run(p) for p in two_runs]
    diff = compare.differing_parameters(runs)
    assert list(diff.index) == ["learning_rate"]
    assert list(diff.loc["learning_rate"]) == ["2e-05", "0.0001"]
    head = compare.headline_metrics(runs)
    assert head.loc["full_spearman_cosine", "20250101-a"] == pytest.approx(0.7)
    assert head.loc["full_spearman_cosine", "20250102-b"] == pytest.approx(0.6)
    assert head.loc["sts-dev_spearman_cosine", "20250101-a"] == pytest.approx(0.79)
    assert head.loc["cheapest_5pct_cell", "20250101-a"] == "L2 d32"


def test_latest_runs_orders_by_folder_name(two_runs, tmp_path):
    assert compare.latest_runs(1, tmp_path) == [two_runs[1]]
    assert compare.latest_runs(5, tmp_path) == list(two_runs)


def test_plots_take_and_return_axes(two_runs):
    import matplotlib.pyplot as plt

    runs = [compare.load_run(p) for p in two_runs]
    fig, axes = plt.subplots(1, 2, squeeze=False)
    assert compare_plots.plot_grid_multiples(runs, axes) is axes
    assert [ax.get_title() for ax in axes.flat] == ["20250101-a", "20250102-b"]
    fig2, ax = plt.subplots()
    assert compare_plots.plot_pareto_runs(runs, ax) is ax
    assert len(ax.get_lines()) == 2 and ax.get_legend() is not None
    plt.close(fig)
    plt.close(fig2)


def test_missing_metrics_json_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        compare.load_run(tmp_path)


@pytest.mark.slow
def test_viewer_notebooks_are_clean_and_execute(two_runs, tmp_path):
    import nbformat
    import papermill

    for name, params in (("tradeoff_explorer", {"run_dir": str(two_runs[0]),
                                                "compare_dir": str(two_runs[1])}),
                         ("compare_runs", {"run_dirs": [str(p) for p in two_runs]})):
        source = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        code = [c for c in source.cells if c.cell_type == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
        assert not any(line.lstrip().startswith(("def ", "class "))
                       for c in code for line in c.source.splitlines())
        assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1
        out = tmp_path / f"{name}.ipynb"
        papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=params,
                                   kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
        outputs = json.dumps([c.get("outputs") for c in nbformat.read(out, 4).cells])
        assert "image/png" in outputs
        if name == "tradeoff_explorer":
            assert "application/vnd.jupyter.widget-view+json" in outputs
        else:
            assert "learning_rate" in outputs
