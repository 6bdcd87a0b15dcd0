"""Training speed of 2D Matryoshka: workbench's loop against SentenceTransformerTrainer.

Same model (all-MiniLM-L6-v2), data (STSB train), seed 42, batch 16, lr 5e-5, warmup 0.1,
dims 384/256/128/64/32, 1 epoch, Matryoshka2dLoss(CoSENTLoss) on both sides, both in one run.
Prints rows/s of each, their ratio and both models' STSB-test spearman_cosine (scored by the
same evaluator). Reference (shared/reference): ST bf16 53.7 rows/s, fp32 39.7 on this machine.

    python bench/train_m2d_vs_st.py                      # full run (a few minutes on 2 cores)
    python bench/train_m2d_vs_st.py --max-rows 480       # quick
    python bench/train_m2d_vs_st.py --max-rows 480 --skip-st --precision fp32   # bf16 speed-up

Both sides run a few untimed warm-up steps first; timings are wall and CPU seconds around the
whole ``train()`` / ``trainer.train()`` call.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import pandas as pd
import torch
from datasets import Dataset

from workbench import settings
from workbench.encoders import BiEncoder
from workbench.evaluators import EmbeddingSimilarityEvaluator
from workbench.losses import LOSSES
from workbench.models import packaged_model_dir
from workbench.training import TrainConfig, train

DIMS = [384, 256, 128, 64, 32]
HPARAMS = dict(num_train_epochs=1, per_device_train_batch_size=16, learning_rate=5e-5,
               warmup_ratio=0.1, seed=42)


def load(split: str, max_rows: int | None = None) -> Dataset:
    frame = pd.read_parquet(settings.data_dir() / "stsb" / f"{split}.parquet")
    return Dataset.from_pandas(frame.head(max_rows) if max_rows else frame, preserve_index=False)


def spearman(model_dir_or_encoder, test: Dataset) -> float:
    enc = model_dir_or_encoder
    if not isinstance(enc, BiEncoder):
        enc = BiEncoder.from_pretrained(enc)
    ev = EmbeddingSimilarityEvaluator(test["sentence1"], test["sentence2"], test["score"],
                                      name="sts-test")
    return ev(enc).metrics["sts-test_spearman_cosine"]


class Clock:
    """Wall and CPU seconds of a block (CPU time is less disturbed by other jobs' load)."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_ours(data: Dataset, precision: str, group_by_length: bool) -> tuple[Clock, BiEncoder]:
    enc = BiEncoder.from_pretrained(packaged_model_dir())
    loss = LOSSES["Matryoshka2dLoss"](enc, LOSSES["CoSENTLoss"](enc), matryoshka_dims=DIMS)
    cfg = TrainConfig(**HPARAMS, precision=precision, group_by_length=group_by_length,
                      logging_steps=50, save_steps=10**9, track_emissions=False,
                      disable_tqdm=True)
    with Clock() as clock:
        train(enc, loss, data, cfg)
    return clock, enc


def run_st(data: Dataset, bf16: bool, out: str) -> Clock:
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.losses import CoSENTLoss, Matryoshka2dLoss

    model = SentenceTransformer(str(packaged_model_dir()), device="cpu")
    loss = Matryoshka2dLoss(model, CoSENTLoss(model), DIMS)
    args = SentenceTransformerTrainingArguments(
        output_dir=out, **HPARAMS, bf16=bf16, use_cpu=True, save_strategy="no",
        report_to=[], logging_steps=50, disable_tqdm=True)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=loss)
    with Clock() as clock:
        trainer.train()
    model.save(os.path.join(out, "model"))
    return clock


def warm_up(data: Dataset, precision: str) -> None:
    """A few steps of each side first, so neither pays the one-off kernel set-up in its timing."""
    few = data.select(range(min(len(data), 48)))
    run_ours(few, precision, False)
    with tempfile.TemporaryDirectory() as out:
        run_st(few, precision == "bf16", out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-rows", type=int, default=None, help="train rows (default: all)")
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--group-by-length", action="store_true",
                        help="length-grouped batches in mega-batches of 50 (changes batch mix)")
    parser.add_argument("--skip-st", action="store_true", help="only our loop")
    parser.add_argument("--no-warm-up", action="store_true", help="skip the untimed warm-up")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (1 when other jobs load the cores: 2 threads on one "
                             "free core mostly wait for each other)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(args.threads, os.cpu_count() or 1)))
    data, test = load("train", args.max_rows), load("test")
    if not args.no_warm_up:
        warm_up(data, args.precision)
    ours, enc = run_ours(data, args.precision, args.group_by_length)
    ours_rho = spearman(enc, test)
    report("workbench", args.precision, len(data), ours, ours_rho)
    if args.skip_st:
        return
    with tempfile.TemporaryDirectory() as out:
        ref = run_st(data, args.precision == "bf16", out)
        ref_rho = spearman(os.path.join(out, "model"), test)
    report("ST trainer", args.precision, len(data), ref, ref_rho)
    print(f"speed ratio {ref.wall / ours.wall:.2f}x wall, {ref.cpu / ours.cpu:.2f}x CPU time "
          f"(target >= 1.5x); |delta spearman| {abs(ours_rho - ref_rho):.4f} (target <= 0.005)")


def report(name: str, precision: str, rows: int, clock: Clock, rho: float) -> None:
    print(f"{name:10s} {precision}: {rows / clock.wall:6.1f} rows/s wall, "
          f"{rows / clock.cpu:6.1f} rows per CPU-s  sts-test spearman {rho:.4f}", flush=True)


if __name__ == "__main__":
    main()
