"""workbench: sentence encoders that stay good when cut down."""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {"BiEncoder": "workbench.models.bi_encoder",
            "CrossEncoder": "workbench.models.cross_encoder",
            "load_dataset": "workbench.data.datasets", "LOSSES": "workbench.losses",
            "grid": "workbench.evaluators.grid", "train": "workbench.training.loop",
            "TrainConfig": "workbench.training.config", "mteb_model": "workbench.mteb_bridge",
            "task_grid": "workbench.evaluators.task_grid", "load_tasks": "workbench.data.tasks",
            "pick": "workbench.evaluators.pick"}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    """Lazy re-exports, so ``import workbench`` (and its settings) stays free of torch."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'workbench' has no attribute '{name}'")
