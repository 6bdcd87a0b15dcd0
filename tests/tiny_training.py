"""One short CoSENT run of the tiny random BERT on the first STS-B train rows, for tests that
compare a trainer change against the path it replaces (same seed, same data, its weights)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from datasets import Dataset

from workbench.losses import LOSSES
from workbench.models.bi_encoder import BiEncoder
from workbench.training import TrainConfig, train


def trained_weights(model_dir: Path, data_dir: Path, out: Path, rows: int = 24,
                    **config) -> dict[str, torch.Tensor]:
    """The state dict after one epoch (batches of 8, lr 1e-3, seed 3; ``config`` overrides)."""
    frame = pd.read_parquet(data_dir / "stsb" / "train.parquet").head(rows)
    torch.manual_seed(0)
    enc = BiEncoder.from_pretrained(model_dir)
    cfg = TrainConfig(**{**dict(output_dir=str(out), num_train_epochs=1, learning_rate=1e-3,
                                per_device_train_batch_size=8, eval_strategy="no", save_steps=100,
                                track_emissions=False, disable_tqdm=True, seed=3), **config})
    train(enc, LOSSES["CoSENTLoss"](enc), Dataset.from_pandas(frame, preserve_index=False), cfg)
    return {k: v.detach().clone() for k, v in enc.state_dict().items()}
