"""Training: ``train(model, loss, dataset, TrainConfig(...))`` on one plain accelerate loop.

Modules: config (TrainConfig, checks), loop (train), step (one optimizer step), optim (AdamW +
schedule), batches (sampler + collation), evaluation, health (verdicts: divergence, collapse),
state (TrainState, TrainResult), checkpoint,
log (train_log.jsonl -> seed-card table), emissions (codecarbon, offline).
"""

from __future__ import annotations

from workbench.training.config import ConfigError, TrainConfig
from workbench.training.health import NonFiniteLossError
from workbench.training.log import read_log
from workbench.training.loop import train
from workbench.training.state import TrainResult, TrainState

__all__ = ["ConfigError", "NonFiniteLossError", "TrainConfig", "TrainResult", "TrainState",
           "read_log", "train"]
