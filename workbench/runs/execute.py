"""Experiments as parameterised notebooks: presets, run folders, papermill execution.

An *experiment* is ``notebooks/<experiment>.ipynb``; its one cell tagged ``parameters`` declares
every parameter with its default. A *preset* is a YAML file of parameter values in
``workbench/presets/``: ``<experiment>.<preset>.yaml`` for one experiment, or ``<preset>.yaml``
shared by every experiment (the experiment's own file wins on a clash). Running an experiment
writes a run folder ``<runs root>/<timestamp>-<experiment>-<preset>/`` (schema in
``docs/architecture.md`` and ``workbench/runs/folder.py``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from workbench import settings
from workbench.errors import ParameterError
from workbench.runs import attempt, preflight
from workbench.runs import parameters as param_rules
from workbench.runs import record as run_record
from workbench.runs.attempt import RunFailed, RunInterrupted
from workbench.runs.lock import RunLock, RunLockedError

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PRESETS_DIR = PACKAGE_DIR / "presets"
NOTEBOOKS_DIR = next((d for d in (PACKAGE_DIR / "notebooks", PACKAGE_DIR.parent / "notebooks")
                      if d.is_dir()), PACKAGE_DIR.parent / "notebooks")
"""The experiment notebooks: inside the package in an installed wheel (``workbench/notebooks``),
at the top of the source tree in a checkout or editable install."""
RUN_FILE = run_record.RUN_FILE
FAILURE_FILE = attempt.FAILURE_FILE
TINY_MODEL = "tiny-bert"
"""Model spec the ``smoke`` presets use: a random 3-layer, 32-dim BERT built in the run folder."""
TINY_SHAPE = (3, 32)
"""(layers, hidden size) of the ``tiny-bert`` model."""
RESERVED = {"preset": "--preset NAME", "out_dir": "--out DIR"}
"""Parameters every notebook has that ``execute`` sets itself, and the option that sets them."""
__all__ = ["RunFailed", "RunInterrupted", "RunLockedError", "execute"]


class UnknownParameterError(ParameterError):
    """A parameter name the experiment's notebook does not declare."""


def experiments() -> list[str]:
    """Names of the experiments (notebooks other than explorers/comparisons that have presets)."""
    return sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb")
                  if any(PRESETS_DIR.glob(f"{p.stem}.*.yaml")))


def notebook_path(experiment: str) -> Path:
    path = NOTEBOOKS_DIR / f"{experiment}.ipynb"
    if not path.exists():
        raise ParameterError(
            f"unknown experiment '{experiment}'; choose one of {', '.join(experiments())}")
    return path


def declared_parameters(experiment: str) -> dict[str, dict[str, Any]]:
    """The notebook's parameters: name -> {default, inferred_type_name, help} (papermill)."""
    import papermill

    return dict(papermill.inspect_notebook(str(notebook_path(experiment))))


def presets(experiment: str) -> list[str]:
    """Preset names available for ``experiment``."""
    own = {p.name[len(experiment) + 1:-5] for p in PRESETS_DIR.glob(f"{experiment}.*.yaml")}
    shared = {p.stem for p in PRESETS_DIR.glob("*.yaml") if "." not in p.stem}
    return sorted(own | shared)


def load_preset(experiment: str, preset: str) -> dict[str, Any]:
    """Parameter values of ``preset`` for ``experiment`` (shared file, then the experiment's)."""
    files = [PRESETS_DIR / f"{preset}.yaml", PRESETS_DIR / f"{experiment}.{preset}.yaml"]
    found = [f for f in files if f.exists()]
    if not found:
        raise ParameterError(f"no preset '{preset}' for '{experiment}'; "
                                f"choose one of {', '.join(presets(experiment))}")
    values: dict[str, Any] = {}
    for file in found:
        values.update(yaml.safe_load(file.read_text()) or {})
    return values


def parse_value(text: str, type_name: str = "None") -> Any:
    """A command-line value as a Python literal, coerced to the declared type where simple.

    ``"5e-5"`` -> 5e-05, ``"[64, 32]"`` -> [64, 32], ``"true"`` -> True; a ``str`` parameter keeps
    the text as given; anything that is not a literal stays a string.
    """
    if type_name == "str":
        return text
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text
    if type_name == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def check_names(experiment: str, names: Mapping[str, Any] | list[str],
                valid: Mapping[str, Any] | None = None) -> None:
    """Refuse parameter names the notebook does not declare (``valid``: its declared
    parameters, read from the notebook file when not given), listing the valid ones."""
    valid = declared_parameters(experiment) if valid is None else valid
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise UnknownParameterError(
            f"unknown parameter(s) {', '.join(unknown)} for '{experiment}'. Valid parameters: "
            f"{', '.join(sorted(valid))}")


def check_overrides(experiment: str, names: Mapping[str, Any] | list[str]) -> None:
    """Names given with ``-p``: declared by the notebook and not set by ``workbench run`` itself."""
    for name in names:
        if name in RESERVED:
            raise ParameterError(f"parameter {name} is set by workbench run itself: use "
                                 f"{RESERVED[name]} instead of -p {name}")
    check_names(experiment, names)


def model_shape(spec: Any) -> tuple[int, int] | None:
    """(layers, width) of the model a run will load, read from its config without the weights."""
    if spec == TINY_MODEL:
        return TINY_SHAPE
    from workbench.models.specs import model_shape as shape

    return shape(spec) if isinstance(spec, str) and spec.strip() else None


def check_parameters(experiment: str, values: Mapping[str, Any],
                     declared: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Every parameter typed and in range, the model found and wide enough; the full values.

    ``declared``: name -> ``{inferred_type_name, default}`` (a running notebook passes its own,
    ``recipes.run.declared_types``); by default papermill reads them from the notebook file.
    Raises :class:`ParameterError` (or a model error) naming the parameter, the value and what is
    allowed. Reads only the model's config.json and weight headers: no data, no weights.
    """
    declared = declared_parameters(experiment) if declared is None else declared
    check_names(experiment, values, declared)
    full = {**param_rules.defaults(declared), **values}
    param_rules.check_values(full, declared)
    param_rules.check_against_data(full)
    param_rules.check_against_model(full, model_shape(full.get("model")))
    return full


def resolve_parameters(experiment: str, preset: str | None,
                       overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Preset values overlaid with ``overrides``; every name checked against the notebook."""
    values = load_preset(experiment, preset) if preset else {}
    values.update(overrides or {})
    check_names(experiment, values)
    return values


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(str(text)).name or str(text)).strip("-")[:40]


def timestamped_dir(*names: str, root: Path | None = None) -> Path:
    """``<root>/<timestamp>-<names...>`` (names slugged; ``-2``, ``-3``... if it exists), not
    created; ``root`` defaults to the runs root (``WORKBENCH_RUNS``)."""
    root = Path(root) if root is not None else settings.runs_dir()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = root / "-".join([stamp, *(_slug(n) for n in names)])
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def new_run_dir(experiment: str, preset: str | None, root: Path | None = None) -> Path:
    """Create ``<root>/<timestamp>-<experiment>-<preset>/`` (suffixed if it exists)."""
    path = timestamped_dir(experiment, preset or "default", root=root)
    path.mkdir(parents=True)
    return path.resolve()


def prepare_out_dir(out_dir: str, experiment: str, preset: str) -> Path:
    """The run folder a notebook writes to: ``out_dir`` if given, else a fresh one (interactive)."""
    if out_dir:
        path = Path(out_dir).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path
    return new_run_dir(experiment, preset)


def base_model(spec: str, out_dir: str | Path) -> str:
    """The model spec a notebook loads; ``tiny-bert`` builds a random tiny BERT in the run folder."""
    if spec != TINY_MODEL:
        return spec
    from workbench.models.tiny import tiny_bert

    return str(tiny_bert(Path(out_dir) / "base_model", hidden_size=32, num_layers=3))


def has_checkpoint(run_dir: Path) -> bool:
    """Whether the trainer left a ``checkpoint-<step>/`` folder in ``run_dir``."""
    return bool(attempt.checkpoints(run_dir))


def plan_run(experiment: str, preset: str | None, overrides: Mapping[str, Any] | None = None,
             out: Path | str | None = None, resume: Path | str | None = None
             ) -> tuple[Path | None, dict[str, Any]]:
    """Every check before any work: the run folder (``None``: a new one) and its record.

    Refused with a :class:`WorkbenchError` naming the culprit: an unknown experiment, preset or
    parameter, a reserved one, a wrong type or range, a missing model, a non-empty or unwritable
    ``out``, a ``resume`` folder that is no run of this experiment or whose checkpoint is damaged.
    Nothing is created, renamed or written here.
    """
    notebook_path(experiment)
    overrides = dict(overrides or {})
    check_overrides(experiment, overrides)
    if resume is not None:
        run_dir = Path(resume).expanduser().resolve()
        record = preflight.check_resume_dir(run_dir, experiment)
        if has_checkpoint(run_dir):  # the trainer resumes from the newest checkpoint-<step>/
            record["parameters"]["resume_from_checkpoint"] = str(run_dir)
        record["parameters"].update(overrides)
    else:
        params = resolve_parameters(experiment, preset, overrides)
        run_dir = Path(out).expanduser().resolve() if out else None
        if run_dir is not None:
            preflight.check_out_dir(run_dir)
        params["preset"] = preset or "default"
        record = {"experiment": experiment, "preset": preset or "default", "parameters": params}
    check_parameters(experiment, record["parameters"])
    target = record["parameters"].get("resume_from_checkpoint")
    if target:
        preflight.check_checkpoint_to_resume(run_dir if resume else None, experiment, target)
    return run_dir, record


def _claim(run_dir: Path | None, record: dict[str, Any], resume: bool) -> Path:
    """After every check passed: create the run folder (a resumed one is taken over later,
    under its lock, by ``attempt.take_over``)."""
    if resume and run_dir is not None:
        return run_dir
    if run_dir is None:
        run_dir = new_run_dir(record["experiment"], record["preset"])
    run_dir = preflight.claim_out_dir(run_dir)
    record["parameters"]["out_dir"] = str(run_dir)
    return run_dir


def execute(experiment: str, preset: str | None = "cpu",
            overrides: Mapping[str, Any] | None = None, out: Path | str | None = None,
            resume: Path | str | None = None, progress: bool = True,
            stream_output: bool = False) -> Path:
    """Run ``experiment`` through papermill and return its run folder.

    ``resume``: an earlier run folder; its parameters are reused (``overrides`` still apply) and
    training restarts from its latest checkpoint. On failure raises :class:`RunFailed` after
    writing ``FAILED.txt`` and ``run.json`` (cell index + error) next to the partial notebook.
    """
    planned, record = plan_run(experiment, preset, overrides, out, resume)
    run_dir = _claim(planned, record, resume is not None)
    with RunLock(run_dir), attempt.sigterm_interrupts():
        if resume is not None:
            checked = record["parameters"].get("resume_from_checkpoint")
            attempt.take_over(run_dir, record)
            record["parameters"]["resume_from_checkpoint"] = checked  # what plan_run checked
        run_record.begin(run_dir, record)
        attempt.run_notebook(notebook_path(experiment), run_dir, record, progress,
                             stream_output)
    return run_dir
