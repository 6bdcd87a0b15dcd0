"""A run's kernel starts with glibc malloc keeping freed memory; the user's own values win."""

from __future__ import annotations

import os
import subprocess
import sys

from workbench.runs.kernel_env import MALLOC, kernel_environment

CHILD = f"import os, json; print(json.dumps({{k: os.environ.get(k) for k in {list(MALLOC)!r}}}))"


def _child_env() -> dict[str, str | None]:
    import json

    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_a_process_started_inside_gets_the_settings_and_the_caller_gets_them_back(monkeypatch):
    for key in MALLOC:
        monkeypatch.delenv(key, raising=False)
    with kernel_environment() as env:
        assert env == MALLOC
        assert _child_env() == MALLOC
    assert all(key not in os.environ for key in MALLOC)


def test_values_the_user_exported_win_and_stay(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "12345")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    with kernel_environment():
        child = _child_env()
    assert child["MALLOC_TRIM_THRESHOLD_"] == "12345"
    assert child["MALLOC_MMAP_THRESHOLD_"] == MALLOC["MALLOC_MMAP_THRESHOLD_"]
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "12345"
    assert "MALLOC_MMAP_THRESHOLD_" not in os.environ


def test_a_notebook_kernel_started_by_papermill_inside_sees_them(tmp_path, monkeypatch):
    import json

    import nbformat
    import papermill

    from workbench.runs.attempt import KERNEL_NAME

    for key in MALLOC:
        monkeypatch.delenv(key, raising=False)
    cell = nbformat.v4.new_code_cell(CHILD.replace("; ", "\n", 1))
    nb = nbformat.v4.new_notebook(cells=[cell])
    nbformat.write(nb, tmp_path / "in.ipynb")
    with kernel_environment():
        papermill.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"),
                                   kernel_name=KERNEL_NAME, progress_bar=False)
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs[0]["text"]
    assert json.loads(out) == MALLOC
