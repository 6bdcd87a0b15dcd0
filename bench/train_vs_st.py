"""Training speed and quality of each experiment's cpu configuration: workbench vs ST 6.2 trainers.

    python bench/train_vs_st.py --experiment m2d --max-rows 480
    python bench/train_vs_st.py --experiment bce          # CrossEncoder BCE, STSB train, batch 64
    python bench/train_vs_st.py --experiment adaptive --max-rows 1280   # AdaptiveLayer(MNRL), allnli

Both sides: same model (all-MiniLM-L6-v2), data, seed 42, lr 5e-5, warmup 0.1, 1 epoch, bf16
(``--precision fp32`` for the reference's default), a few untimed warm-up steps each, one process.
Prints rows/s (wall and per CPU-second: other jobs' load disturbs wall time more), their ratio, and
both models' final metric (STSB-test Spearman; CE correlation for the reranker), scored by the same
evaluator. Reference rows/s on this machine (shared/reference, fp32): m2d 39.7 (bf16 53.7),
bce 35.2, adaptive 16.5.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from datasets import Dataset
from train_m2d_vs_st import DIMS, Clock

from workbench import settings
from workbench.models import packaged_model_dir
from workbench.training import TrainConfig, train


@dataclass
class Experiment:
    data: tuple[str, ...]
    batch: int
    sampler: str = "batch_sampler"


EXPERIMENTS = {"m2d": Experiment(("stsb/train",), 16),
               "bce": Experiment(("stsb/train",), 64),
               "adaptive": Experiment(("allnli/dev", "allnli/test"), 128, "no_duplicates")}
HPARAMS = dict(num_train_epochs=1, learning_rate=5e-5, warmup_ratio=0.1, seed=42)


def load(parts: tuple[str, ...], max_rows: int | None = None) -> Dataset:
    frame = pd.concat([pd.read_parquet(settings.data_dir() / f"{p}.parquet") for p in parts],
                      ignore_index=True)
    return Dataset.from_pandas(frame.head(max_rows) if max_rows else frame, preserve_index=False)


def score(name: str, model: Any) -> float:
    """STSB-test Spearman of a bi-encoder, or CE correlation of a reranker (our evaluators)."""
    from workbench.evaluators import CECorrelationEvaluator, EmbeddingSimilarityEvaluator

    test = load(("stsb/test",))
    if name == "bce":
        pairs = list(zip(test["sentence1"], test["sentence2"], strict=True))
        res = CECorrelationEvaluator(pairs, test["score"], name="stsb-test")(model)
        return res.metrics["stsb-test_spearman"]
    ev = EmbeddingSimilarityEvaluator(test["sentence1"], test["sentence2"], test["score"],
                                      name="sts-test")
    return ev(model).metrics["sts-test_spearman_cosine"]


def ours_model_and_loss(name: str) -> tuple[Any, Any]:
    from workbench.cross_encoder import CrossEncoder
    from workbench.encoders import BiEncoder
    from workbench.losses import LOSSES

    if name == "bce":
        model = CrossEncoder.from_pretrained(packaged_model_dir())
        return model, LOSSES["BinaryCrossEntropyLoss"](model)
    model = BiEncoder.from_pretrained(packaged_model_dir())
    if name == "m2d":
        return model, LOSSES["Matryoshka2dLoss"](model, LOSSES["CoSENTLoss"](model), DIMS)
    return model, LOSSES["AdaptiveLayerLoss"](model, LOSSES["MultipleNegativesRankingLoss"](model),
                                              n_layers_per_step=1, kl_temperature=0.3)


def run_ours(name: str, data: Dataset, precision: str) -> tuple[Clock, Any]:
    exp = EXPERIMENTS[name]
    model, loss = ours_model_and_loss(name)
    cfg = TrainConfig(**HPARAMS, per_device_train_batch_size=exp.batch, batch_sampler=exp.sampler,
                      precision=precision, logging_steps=50, save_steps=10**9,
                      track_emissions=False, disable_tqdm=True)
    with Clock() as clock:
        train(model, loss, data, cfg)
    return clock, model


def st_trainer(name: str, data: Dataset, bf16: bool, out: str) -> tuple[Any, Any]:
    import sentence_transformers as st
    from sentence_transformers import losses

    exp = EXPERIMENTS[name]
    common = dict(output_dir=out, **HPARAMS, per_device_train_batch_size=exp.batch, bf16=bf16,
                  use_cpu=True, save_strategy="no", report_to=[], logging_steps=50,
                  disable_tqdm=True)
    if name == "bce":
        from sentence_transformers.cross_encoder import (
            CrossEncoder,
            CrossEncoderTrainer,
            CrossEncoderTrainingArguments,
        )
        from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

        model = CrossEncoder(str(packaged_model_dir()), num_labels=1, device="cpu")
        args = CrossEncoderTrainingArguments(**common)
        return model, CrossEncoderTrainer(model=model, args=args, train_dataset=data,
                                          loss=BinaryCrossEntropyLoss(model))
    model = st.SentenceTransformer(str(packaged_model_dir()), device="cpu")
    if name == "m2d":
        loss = losses.Matryoshka2dLoss(model, losses.CoSENTLoss(model), DIMS)
    else:
        loss = losses.AdaptiveLayerLoss(model, losses.MultipleNegativesRankingLoss(model),
                                        n_layers_per_step=1, kl_temperature=0.3)
    sampler = "no_duplicates" if exp.sampler == "no_duplicates" else "batch_sampler"
    args = st.SentenceTransformerTrainingArguments(**common, batch_sampler=sampler)
    return model, st.SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                                loss=loss)


def run_st(name: str, data: Dataset, bf16: bool, out: str) -> tuple[Clock, str]:
    model, trainer = st_trainer(name, data, bf16, out)
    with Clock() as clock:
        trainer.train()
    folder = os.path.join(out, "model")
    model.save_pretrained(folder) if name == "bce" else model.save(folder)
    return clock, folder


def load_st_result(name: str, folder: str) -> Any:
    from workbench.cross_encoder import CrossEncoder
    from workbench.encoders import BiEncoder

    return (CrossEncoder if name == "bce" else BiEncoder).from_pretrained(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="m2d", choices=sorted(EXPERIMENTS))
    parser.add_argument("--max-rows", type=int, default=None, help="train rows (default: all)")
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--no-warm-up", action="store_true", help="skip the untimed warm-up")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (1 when other jobs load the cores: 2 threads on one "
                             "free core mostly wait for each other)")
    args = parser.parse_args()
    name, bf16 = args.experiment, args.precision == "bf16"
    torch.set_num_threads(max(1, min(args.threads, os.cpu_count() or 1)))
    data = load(EXPERIMENTS[name].data, args.max_rows)
    with tempfile.TemporaryDirectory() as out:
        if not args.no_warm_up:
            few = data.select(range(min(len(data), 3 * EXPERIMENTS[name].batch)))
            run_ours(name, few, args.precision)
            run_st(name, few, bf16, out)
        ours, model = run_ours(name, data, args.precision)
        ours_metric = score(name, model)
        ref, folder = run_st(name, data, bf16, out)
        ref_metric = score(name, load_st_result(name, folder))
    for who, clock, metric in (("workbench", ours, ours_metric), ("ST trainer", ref, ref_metric)):
        print(f"{who:10s} {name} {args.precision}: {len(data) / clock.wall:6.1f} rows/s wall, "
              f"{len(data) / clock.cpu:6.1f} rows per CPU-s, final metric {metric:.4f}")
    print(f"speed ratio {ref.wall / ours.wall:.2f}x wall, {ref.cpu / ours.cpu:.2f}x CPU time "
          f"(target >= 1.5x); |delta metric| {abs(ours_metric - ref_metric):.4f} "
          f"(target <= 0.005)")


if __name__ == "__main__":
    main()
