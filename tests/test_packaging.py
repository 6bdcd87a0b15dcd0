"""The wheel carries what ``workbench run`` needs: notebooks, presets and the card template."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


SHIPPED = ("workbench", "notebooks", "pyproject.toml", "setup.py", "README.md")
"""What the build reads (copied, so no build/ or egg-info lands in the checkout)."""


def test_wheel_holds_notebooks_presets_and_templates(tmp_path):
    source = tmp_path / "src"
    for name in SHIPPED:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                             if (ROOT / name).is_dir() else {}))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(source)], check=True, capture_output=True,
                   cwd=tmp_path)
    wheel = next(tmp_path.glob("workbench-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    experiments = [p.stem for p in (ROOT / "notebooks").glob("*.ipynb")]
    assert experiments and all(f"workbench/notebooks/{e}.ipynb" in names for e in experiments)
    assert all(f"workbench/presets/{p.name}" in names for p in (ROOT / "workbench/presets").iterdir())
    assert "workbench/reports/templates/card.md.j2" in names
    assert "workbench/runs/schema.py" in names and "workbench/recipes/run.py" in names
