"""The trade-off explorer used in a real JupyterLab through headless Chromium.

For a real smoke run (3 layers) and a 6-layer MiniLM run folder: run all cells from the menu,
move each slider one step with the keyboard, click a heatmap cell, and check the text the widget
shows for that cell against the run's grid.csv; no cell may print an exception. Screenshots are
kept under ``WORKBENCH_SHOTS`` (default ``runs/browser/``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lab
import pandas as pd
import pytest
from run_factory import make_run_folder

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("WORKBENCH_SHOTS", lab.REPO / "runs" / "browser"))


@pytest.fixture(scope="module")
def lab_root(tmp_path_factory, minilm_dir) -> Path:
    """A folder holding a real smoke run, a 6-layer run and one explorer notebook for each."""
    root = tmp_path_factory.mktemp("lab")
    smoke = root / "smoke-run"
    subprocess.run([str(Path(sys.executable).parent / "workbench"), "run", "matryoshka_2d",
                    "--preset", "smoke", "--out", str(smoke)],
                   check=True, capture_output=True, cwd=root)
    minilm = make_run_folder(root, minilm_dir, name="20250101-000000-matryoshka_2d-minilm")
    lab.prepare_notebook(smoke, root, "smoke.ipynb")
    lab.prepare_notebook(minilm, root, "minilm.ipynb")
    return root


@pytest.fixture(scope="module")
def browser_page(lab_root):
    """One JupyterLab server and one Chromium page for the module."""
    chromium = lab.chromium_path()
    if chromium is None:
        pytest.fail("no Chromium on PATH: `apt-get install chromium` (make test installs it)")
    from playwright.sync_api import sync_playwright

    with lab.jupyter_lab(lab_root) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=lab.CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        yield base, page
        browser.close()


def _grid(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "grid.csv")


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"explorer_{name}.png"), full_page=True)


@pytest.mark.parametrize("name, run", [("smoke", "smoke-run"),
                                       ("minilm", "20250101-000000-matryoshka_2d-minilm")])
def test_explorer_in_jupyterlab(browser_page, lab_root, name, run):
    base, page = browser_page
    grid = _grid(lab_root / run)
    layers, dims = sorted(grid["layer"].unique()), sorted(grid["dim"].unique())
    try:
        lab.open_and_run_all(page, f"{base}/lab/tree/{name}.ipynb")
        text = lab.wait_for_text(page, f"layer {layers[-1]} of {layers[-1]}, {dims[-1]} of")
        _shot(page, f"{name}_1_full")
        lab.slider_step_left(page, 0)
        text = lab.wait_for_text(page, f"layer {layers[-2]} of {layers[-1]}, {dims[-1]} of")
        lab.slider_step_left(page, 1)
        text = lab.wait_for_text(page, f"layer {layers[-2]} of {layers[-1]}, {dims[-2]} of")
        _shot(page, f"{name}_2_sliders")
        lab.click_cell(page, layers[0], dims[0])
        text = lab.wait_for_text(page, f"layer {layers[0]} of {layers[-1]}, {dims[0]} of")
        _shot(page, f"{name}_3_cell")
    except Exception:
        _shot(page, f"{name}_failed")
        raise
    cell = grid[(grid["layer"] == layers[0]) & (grid["dim"] == dims[0])].iloc[0]
    assert f"{cell['spearman_cosine']:.4f}" in text, text
    assert "Example pairs at this cell" in text
    assert lab.error_outputs(page) == []
    if name == "smoke":
        page.locator("button:has-text('Export this cell')").click()
        text = lab.wait_for_text(page, "exported to", timeout_ms=180_000)
        _shot(page, f"{name}_4_export")
        assert (lab_root / run / "exports" / f"L{layers[0]}-d{dims[0]}" / "modules.json").exists()
