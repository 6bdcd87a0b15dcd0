"""Checkpoints: weights, optimizer, scheduler, RNG states and the sampler position.

A checkpoint is ``<output_dir>/checkpoint-<step>/`` holding ``state.pt`` (everything needed to
resume exactly) and ``trainer_state.json`` (readable summary). It is written to a temporary
folder and renamed, so a crash mid-save never leaves a half checkpoint behind.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench import atomic
from workbench.errors import WorkbenchError

STATE_NAME = "state.pt"
SUMMARY_NAME = "trainer_state.json"
_PATTERN = re.compile(r"^checkpoint-(\d+)$")


class CheckpointError(WorkbenchError, FileNotFoundError):
    """A checkpoint that is missing or damaged; the message names the file."""


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and (when there is one) every CUDA device's RNG states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state`; CUDA states only where saved and a GPU is present."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(output_dir: str | Path, step: int, module: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, scheduler: Any,
                    trainer: dict[str, Any], keep: int | None = None) -> Path:
    """Write ``checkpoint-<step>`` atomically; keep the ``keep`` newest (None = all)."""
    root = Path(output_dir)
    state = {"model": module.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "rng": rng_state(), "trainer": trainer}

    def fill(tmp: Path) -> None:
        torch.save(state, tmp / STATE_NAME)
        (tmp / SUMMARY_NAME).write_text(json.dumps(trainer, indent=1, default=str))

    final = atomic.write_dir(root / f"checkpoint-{step}", fill)
    if keep is not None:
        for old in list_checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints in ``output_dir``, oldest first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if (m := _PATTERN.match(p.name)) and (p / STATE_NAME).exists()]
    return [p for _, p in sorted(found)]


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder, or the newest checkpoint inside an output folder."""
    path = Path(path)
    if (path / STATE_NAME).exists():
        return path
    found = list_checkpoints(path)
    if not found:
        raise CheckpointError(f"no checkpoint in {path} (expected checkpoint-<step>/{STATE_NAME})")
    return found[-1]


def load_checkpoint(path: str | Path, module: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any) -> dict[str, Any]:
    """Restore everything saved by :func:`save_checkpoint`; returns the trainer state."""
    folder = resolve_checkpoint(path)
    problem = check_checkpoint(folder)
    if problem is not None:
        raise CheckpointError(f"cannot resume from {folder}: {problem}")
    state = torch.load(folder / STATE_NAME, map_location="cpu", weights_only=False)
    module.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return state["trainer"]


def check_checkpoint(path: str | Path) -> str | None:
    """What is wrong with a checkpoint folder (missing, truncated or corrupt files), or None.

    ``state.pt`` is a zip archive (``torch.save``): a truncated file loses its central directory,
    a garbled one fails a member's CRC-32; ``trainer_state.json`` must parse.
    """
    import zipfile

    path = Path(path)
    state = path / STATE_NAME
    if not state.is_file():
        return f"{state} is missing"
    try:
        with zipfile.ZipFile(state) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return f"{state} is truncated or not a torch checkpoint ({err})"
    if bad is not None:
        return f"{state} is corrupt (member {bad} fails its checksum)"
    try:
        json.loads((path / SUMMARY_NAME).read_text())
    except (OSError, ValueError) as err:
        return f"{path / SUMMARY_NAME} is unreadable ({type(err).__name__})"
    return None
