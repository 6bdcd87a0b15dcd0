"""Each committed notebook is exactly what its percent-format source in notebooks/src builds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

SRC = Path(__file__).resolve().parents[2] / "notebooks" / "src"
spec = importlib.util.spec_from_file_location("notebook_build", SRC / "build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)
SOURCES = sorted(p for p in SRC.glob("*.py") if p.stem != "build")


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def test_every_source_has_a_notebook():
    assert {p.stem for p in SOURCES} == {p.stem for p in SRC.parent.glob("*.ipynb")}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_matches_its_source(source):
    committed = nbformat.read(SRC.parent / f"{source.stem}.ipynb", as_version=4)
    assert _cells(committed) == _cells(build.notebook(source)), (
        f"notebooks/{source.stem}.ipynb differs from its source: edit notebooks/src/{source.stem}.py "
        "and run `python notebooks/src/build.py`")
