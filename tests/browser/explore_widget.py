"""Use the trade-off explorer in JupyterLab as a person would, on any run folder (by hand).

    python tests/browser/explore_widget.py RUN_DIR [--shots /tmp]

Runs all cells of a copy of ``notebooks/tradeoff_explorer.ipynb`` pointed at ``RUN_DIR``, moves
both sliders, clicks the (first layer, smallest dims) cell and exports it, printing the widget's
text after each step and saving screenshots. The automated version is
``test_explorer_browser.py`` (marker ``browser``, part of ``make test``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import lab
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--chromium", default=lab.chromium_path())
    parser.add_argument("--shots", type=Path, default=Path("/tmp"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="wb-browser-"))
    run = root / args.run_dir.resolve().name
    shutil.copytree(args.run_dir, run)
    lab.prepare_notebook(run, root, "explorer.ipynb")
    grid = pd.read_csv(run / "grid.csv")
    layer, dim = int(grid["layer"].min()), int(grid["dim"].min())
    with lab.jupyter_lab(root) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=lab.CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        steps = [("full", lambda: lab.open_and_run_all(page, f"{base}/lab/tree/explorer.ipynb")),
                 ("sliders", lambda: (lab.slider_step_left(page, 0), lab.slider_step_left(page, 1))),
                 ("click", lambda: lab.click_cell(page, layer, dim)),
                 ("export", lambda: page.locator("button:has-text('Export this cell')").click())]
        for i, (name, step) in enumerate(steps, 1):
            step()
            page.wait_for_timeout(3000 if name != "export" else 15000)
            page.screenshot(path=str(args.shots / f"explorer_{i}_{name}.png"), full_page=True)
            print(f"--- after {name} ---\n{lab.widget_text(page)}")
        print("errors:", lab.error_outputs(page) or "none")
        browser.close()


if __name__ == "__main__":
    main()
