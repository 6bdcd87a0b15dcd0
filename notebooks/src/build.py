"""Build notebooks/<name>.ipynb from the percent-format sources in notebooks/src/<name>.py.

Cells start with ``# %%`` (code), ``# %% [markdown]`` (markdown: each line's leading ``# `` is
removed) or ``# %% tags=["parameters"]`` (the papermill parameters cell). The notebooks are
written clean (no outputs, no execution counts) with the kernel ``python3``.
Usage: python notebooks/src/build.py [NAME ...]   (default: every source here)
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

SRC = Path(__file__).resolve().parent
KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def _cell(header: str, lines: list[str]) -> nbformat.NotebookNode:
    text = "\n".join(lines).strip("\n")
    if "[markdown]" in header:
        return nbformat.v4.new_markdown_cell("\n".join(
            line[2:] if line.startswith("# ") else line.lstrip("#") for line in text.splitlines()))
    cell = nbformat.v4.new_code_cell(text)
    if 'tags=["parameters"]' in header:
        cell.metadata["tags"] = ["parameters"]
    return cell


def notebook(source: Path) -> nbformat.NotebookNode:
    """The clean notebook a percent-format source describes."""
    cells, header, lines = [], None, []
    for line in source.read_text().splitlines():
        if line.startswith("# %%"):
            if header is not None:
                cells.append(_cell(header, lines))
            header, lines = line, []
        elif header is not None:
            lines.append(line)
    cells.append(_cell(header, lines))
    nb = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": KERNEL, "language_info": {"name": "python"}})
    for i, cell in enumerate(nb.cells):
        cell.id = f"{source.stem}-{i:02d}"  # stable ids: rebuilding gives the same file
    return nb


def build(source: Path) -> Path:
    """Write ``notebooks/<name>.ipynb`` from ``notebooks/src/<name>.py``."""
    out = SRC.parent / f"{source.stem}.ipynb"
    nbformat.write(notebook(source), out)
    return out


if __name__ == "__main__":
    names = sys.argv[1:] or [p.stem for p in SRC.glob("*.py") if p.stem != "build"]
    for name in names:
        print(build(SRC / f"{name}.py"))
