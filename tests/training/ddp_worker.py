"""Worker for test_training_ddp: a few steps of CoSENT on 2 CPU processes (gloo), then each
rank writes a checksum of its weights. Run by ``torch.distributed.run``, not by pytest."""

from __future__ import annotations

import json
import os
import sys

import pandas as pd
import torch
from datasets import Dataset

from workbench.losses import LOSSES
from workbench.models.bi_encoder import BiEncoder
from workbench.training import TrainConfig, train


def main(model_dir: str, data_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    enc = BiEncoder.from_pretrained(model_dir)
    data = Dataset.from_pandas(pd.read_parquet(data_file).head(32), preserve_index=False)
    cfg = TrainConfig(output_dir=out_dir, max_steps=3, per_device_train_batch_size=4,
                      learning_rate=1e-3, logging_steps=1, save_steps=100, disable_tqdm=True,
                      track_emissions=False)
    result = train(enc, LOSSES["CoSENTLoss"](enc), data, cfg)
    rank = int(os.environ.get("RANK", "0"))
    flat = torch.cat([p.detach().flatten().double() for p in enc.parameters()])
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
        json.dump({"world": int(os.environ.get("WORLD_SIZE", "1")), "steps": result.global_step,
                   "rows": result.train_rows, "weights": flat.tolist()[:4096],
                   "sum": float(flat.sum()), "sq": float((flat ** 2).sum())}, fh)


if __name__ == "__main__":
    main(*sys.argv[1:4])
