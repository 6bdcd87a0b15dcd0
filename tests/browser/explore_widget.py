"""Use the trade-off explorer in JupyterLab as a person would (run once by hand; not collected).

Starts JupyterLab from this venv (headless, no token, localhost), opens a copy of
``notebooks/tradeoff_explorer.ipynb`` pointed at a run folder, runs all cells, moves the layer
and dims sliders with the keyboard, clicks a heatmap cell and the export button, prints the
widget's text after each step and saves screenshots under ``--shots`` (default /tmp).

    python tests/browser/explore_widget.py RUN_DIR [--chromium /usr/bin/chromium]

Needs ``pip install playwright`` and a Chromium (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--headless"]


def prepare_notebook(run_dir: Path, root: Path) -> Path:
    """Copy the explorer notebook into ``root`` with ``run_dir`` set in its parameters cell."""
    nb = nbformat.read(REPO / "notebooks" / "tradeoff_explorer.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = cell.source.replace('run_dir: str = ""', f'run_dir: str = "{run_dir}"')
    path = root / "tradeoff_explorer.ipynb"
    nbformat.write(nb, path)
    return path


def start_lab(root: Path, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
           "--ServerApp.ip=127.0.0.1", "--ServerApp.token=", "--ServerApp.password=",
           "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}", "--allow-root"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2)
            return proc
        except OSError:
            time.sleep(1)
    proc.terminate()
    raise RuntimeError("JupyterLab did not start within 120 s")


def widget_text(page) -> str:
    return page.locator(".jp-OutputArea-output .widget-vbox").first.inner_text()


def drive(page, url: str, shots: Path) -> None:
    """Run all cells, then use the widget; a screenshot is saved before any failure propagates."""
    try:
        _steps(page, url, shots)
    except Exception:
        page.screenshot(path=str(shots / "explorer_failed.png"), full_page=True)
        raise


def _steps(page, url: str, shots: Path) -> None:
    page.goto(url)
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    page.wait_for_timeout(4000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_selector("button:has-text('Export this cell')", timeout=240_000)
    page.wait_for_selector(".widget-html:has-text('Example pairs at this cell')", timeout=240_000)
    page.wait_for_timeout(2000)
    page.screenshot(path=str(shots / "explorer_1_full.png"), full_page=True)
    print("--- after Run All (full model) ---\n" + widget_text(page))
    handles = page.locator(".widget-slider .noUi-handle")
    handles.nth(0).focus()
    page.keyboard.press("ArrowLeft")
    handles.nth(1).focus()
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector(".widget-html:has-text('layer 2 of')", timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(shots / "explorer_2_sliders.png"), full_page=True)
    print("--- after moving both sliders one step left ---\n" + widget_text(page))
    page.locator("button[title^='layer 1, ']").first.click()
    page.wait_for_selector(".widget-html:has-text('layer 1 of')", timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(shots / "explorer_3_click.png"), full_page=True)
    print("--- after clicking heatmap cell (layer 1, smallest dims) ---\n" + widget_text(page))
    page.locator("button:has-text('Export this cell')").click()
    page.wait_for_selector(".widget-html:has-text('exported to')", timeout=180_000)
    page.screenshot(path=str(shots / "explorer_4_export.png"), full_page=True)
    print("--- after export ---\n" + widget_text(page))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--port", type=int, default=8899)
    parser.add_argument("--shots", type=Path, default=Path("/tmp"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="wb-browser-"))
    run_copy = root / args.run_dir.resolve().name
    shutil.copytree(args.run_dir, run_copy)
    prepare_notebook(run_copy, root)
    lab = start_lab(root, args.port)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            drive(page, f"http://127.0.0.1:{args.port}/lab/tree/tradeoff_explorer.ipynb",
                  args.shots)
            browser.close()
    finally:
        lab.terminate()
        lab.wait(timeout=30)


if __name__ == "__main__":
    main()
