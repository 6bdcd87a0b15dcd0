"""docs/architecture.md names every module of the package (a new module needs its line)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_is_in_the_architecture_doc():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    modules = sorted(str(p.relative_to(ROOT / "workbench")) for p in (ROOT / "workbench").rglob("*.py")
                     if p.name != "__init__.py")
    missing = [m for m in modules if f"`{m}`" not in doc]
    assert modules and not missing, f"docs/architecture.md does not mention {missing}"


def test_every_test_file_name_is_unique():
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names))
