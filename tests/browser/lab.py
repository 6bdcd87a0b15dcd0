"""Drive the trade-off explorer in a real JupyterLab with headless Chromium (playwright).

Shared by the browser test (``test_explorer_browser.py``, marker ``browser``) and the by-hand
script ``explore_widget.py``. Needs ``playwright`` (the ``test`` extra) and a Chromium binary
(Debian: ``apt-get install chromium``; ``make test`` installs it when absent).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--headless", "--disable-gpu"]
ERROR_OUTPUT = "[data-mime-type='application/vnd.jupyter.error']"
"""JupyterLab renders a cell's exception (traceback) with this mime type."""


def chromium_path() -> str | None:
    """The Chromium executable on PATH (Debian names it ``chromium``), or None."""
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)


def prepare_notebook(run_dir: Path, root: Path, name: str) -> Path:
    """Copy the explorer notebook into ``root`` as ``name`` with ``run_dir`` in its parameters."""
    nb = nbformat.read(REPO / "notebooks" / "tradeoff_explorer.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = cell.source.replace('run_dir: str = ""', f'run_dir: str = "{run_dir}"')
    path = root / name
    nbformat.write(nb, path)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyter_lab(root: Path, port: int | None = None) -> Iterator[str]:
    """Run JupyterLab headless on localhost over ``root``; yields its base URL."""
    port = port or _free_port()
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
           "--ServerApp.ip=127.0.0.1", "--ServerApp.token=", "--ServerApp.password=",
           "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}", "--allow-root",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(f"http://127.0.0.1:{port}/api/status", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_for(url: str, proc: subprocess.Popen, seconds: int = 120) -> None:
    for _ in range(seconds):
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"JupyterLab did not answer {url} within {seconds} s")


def widget_text(page) -> str:
    """The explorer's text (title, metrics table, example pairs, status)."""
    return page.locator(".jp-OutputArea-output .widget-vbox").first.inner_text()


def open_and_run_all(page, url: str) -> None:
    """Open a notebook and run every cell through the Run menu, as a person would."""
    page.goto(url)
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator, .jp-Toolbar", timeout=60_000)
    page.wait_for_timeout(3000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_selector("button:has-text('Export this cell')", timeout=240_000)
    page.wait_for_selector(".widget-html:has-text('Example pairs at this cell')", timeout=240_000)


def wait_for_text(page, text: str, timeout_ms: int = 60_000) -> str:
    """Wait until the explorer shows ``text``; returns the widget's text."""
    page.wait_for_selector(f".widget-html:has-text('{text}')", timeout=timeout_ms)
    page.wait_for_timeout(500)
    return widget_text(page)


def slider_step_left(page, index: int) -> None:
    """Move the ``index``-th slider (0 = layers, 1 = dims) one step left with the keyboard."""
    handle = page.locator(".widget-slider .noUi-handle").nth(index)
    handle.focus()
    page.keyboard.press("ArrowLeft")


def click_cell(page, layer: int, dim: int) -> None:
    """Click the heatmap button of one (layer, dim) cell."""
    page.locator(f"button[title^='layer {layer}, {dim} dims']").first.click()


def error_outputs(page) -> list[str]:
    """Texts of every cell output that is an exception."""
    return [e.inner_text() for e in page.locator(ERROR_OUTPUT).all()]
