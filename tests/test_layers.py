"""The package's layer order: every module imports, and none imports a higher layer or forms a
cycle (read from the source, so lazy imports inside functions count too)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"
LAYERS = [
    {"settings", "errors", "atomic", "progress"},
    {"fast", "data"},
    {"models"},
    {"losses", "evaluators"},
    {"training"},
    {"runs"},
    {"reports"},
    {"recipes"},
    {"cli", "mteb_bridge"},
]
"""Lowest first: a module may import its own layer and the ones before it, never a later one."""


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _rank(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the package root re-exports lazily
    for rank, names in enumerate(LAYERS):
        if parts[1] in names:
            return rank
    raise AssertionError(f"{module} belongs to no layer; add its subpackage to LAYERS")


def _imports(module: str) -> set[str]:
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found.update(n for n in names if n.startswith("workbench.") and _known(n))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("workbench."))
    return found


def _known(name: str) -> bool:
    return name in set(_modules())


@pytest.mark.parametrize("module", _modules())
def test_module_imports_only_lower_layers(module):
    rank = _rank(module)
    if rank is None:
        return
    higher = sorted(m for m in _imports(module) if (_rank(m) or 0) > rank)
    assert not higher, f"{module} (layer {rank}) imports higher layers: {higher}"


def test_no_import_cycle_between_subpackages():
    graph = {m: {i for i in _imports(m) if i != m} for m in _modules()}
    seen: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        if seen.get(node) == 1:
            raise AssertionError("import cycle: " + " -> ".join([*stack, node]))
        if seen.get(node) == 2:
            return
        seen[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if not node.startswith(nxt + "."):  # a module importing its own package's __init__
                visit(nxt, [*stack, node])
        seen[node] = 2

    for module in graph:
        visit(module, [])


def test_every_module_imports():
    for module in _modules():
        importlib.import_module(module)


def test_import_workbench_stays_light_and_exports_the_public_api():
    code = ("import sys, workbench; light = 'torch' not in sys.modules; "
            "from workbench import BiEncoder, CrossEncoder, load_dataset, LOSSES, grid, train, "
            "TrainConfig; print(light, callable(grid), callable(train), 'CoSENTLoss' in LOSSES)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "True True True True"
