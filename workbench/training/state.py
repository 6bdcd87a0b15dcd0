"""What a run is and what it produced: ``TrainState`` (saved in every checkpoint) and
``TrainResult`` (returned by ``train``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainState:
    """Where the run is; saved in every checkpoint (all plain values)."""

    step: int = 0
    epoch: int = 0
    next_chunk: int = 0
    total_steps: int = 0
    chunks_per_epoch: int = 0
    rows: int = 0
    loss_window: list[float] = field(default_factory=list)
    losses_since_eval: list[float] = field(default_factory=list)
    last_loss: float | None = None
    last_eval_step: int = -1
    metrics: dict[str, float] = field(default_factory=dict)
    status: str = "ok"
    diagnosis: str | None = None
    monitor: dict[str, Any] = field(default_factory=dict)
    stopped: str | None = None
    parts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def epoch_float(self) -> float:
        return self.epoch + self.next_chunk / max(self.chunks_per_epoch, 1)


@dataclass
class TrainResult:
    """What a run produced; ``log`` is the seed-card "Training Logs" DataFrame.

    ``status``: "ok", "warning" or "degenerate" (``diagnosis`` says why, ``findings`` lists
    every check that fired); ``final_check``: per-layer probe statistics of the trained model.
    """

    status: str
    diagnosis: str | None
    global_step: int
    epoch: float
    train_seconds: float
    train_rows: int
    rows_per_s: float
    final_loss: float | None
    metrics: dict[str, float]
    health: list[dict[str, Any]]
    emissions: dict[str, Any]
    output_dir: str | None
    last_checkpoint: str | None
    log: Any = None
    findings: list[dict[str, str]] = field(default_factory=list)
    final_check: dict[str, dict[str, Any]] = field(default_factory=dict)
    parts: list[dict[str, Any]] = field(default_factory=list)
