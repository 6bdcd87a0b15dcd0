"""Worker for test_training_ddp, run by ``torch.distributed.run`` (not by pytest): a few steps of
CoSENT on 2 CPU processes (gloo), each rank writing a checksum of its weights; then a second run
whose loss turns NaN on rank 1 only, each rank writing the verdict it ended with."""

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

RANK = int(os.environ.get("RANK", "0"))


def nan_on(loss: torch.nn.Module, rank: int, call: int) -> torch.nn.Module:
    """Fault injection: the loss of ``rank``'s ``call``-th forward becomes NaN."""
    forward, calls = loss.forward, []

    def patched(*args, **kwargs):
        calls.append(1)
        out = forward(*args, **kwargs)
        return out * float("nan") if rank == RANK and len(calls) == call else out

    loss.forward = patched
    return loss


def checksum(enc: BiEncoder) -> dict:
    flat = torch.cat([p.detach().flatten().double() for p in enc.parameters()])
    return {"weights": flat.tolist()[:4096], "sum": float(flat.sum()), "sq": float((flat ** 2).sum())}


def main(model_dir: str, data_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    data = Dataset.from_pandas(pd.read_parquet(data_file).head(32), preserve_index=False)
    cfg = dict(max_steps=3, per_device_train_batch_size=4, learning_rate=1e-3, logging_steps=1,
               save_steps=100, disable_tqdm=True, track_emissions=False)
    enc = BiEncoder.from_pretrained(model_dir)
    result = train(enc, LOSSES["CoSENTLoss"](enc), data, TrainConfig(output_dir=out_dir, **cfg))
    with open(os.path.join(out_dir, f"rank{RANK}.json"), "w") as fh:
        json.dump({"world": int(os.environ.get("WORLD_SIZE", "1")), "steps": result.global_step,
                   "rows": result.train_rows, "status": result.status, **checksum(enc)}, fh)
    enc = BiEncoder.from_pretrained(model_dir)
    nan_dir = os.path.join(out_dir, "nan")
    result = train(enc, nan_on(LOSSES["CoSENTLoss"](enc), rank=1, call=2), data,
                   TrainConfig(output_dir=nan_dir, **cfg))
    with open(os.path.join(nan_dir, f"rank{RANK}.json"), "w") as fh:
        json.dump({"steps": result.global_step, "status": result.status,
                   "diagnosis": result.diagnosis, **checksum(enc)}, fh)


if __name__ == "__main__":
    main(*sys.argv[1:4])
