"""Training speed and quality of each experiment's cpu configuration: workbench vs ST 6.2 trainers.

    python bench/train_vs_st.py --experiment m2d --max-rows 480
    python bench/train_vs_st.py --experiment bce --seeds 42 43 44   # CrossEncoder BCE, STSB train
    python bench/train_vs_st.py --experiment adaptive --max-rows 1280   # AdaptiveLayer(MNRL), allnli
    python bench/train_vs_st.py --experiment m2d --device cuda --roofline   # on a GPU, with MFU

Both sides: same model (all-MiniLM-L6-v2, or ``--model``), data, seed, lr 5e-5, warmup 0.1,
1 epoch, bf16 (``--precision fp32`` for the reference's default), a few untimed warm-up steps
each, one process. Each seed of ``--seeds`` is one repeat of both sides (seeding the random
classifier head and dropout too); the table gives the median rows/s over seeds, the mean ± sd of
both final metrics (STSB-test Spearman; CE correlation for the reranker, both scored by the same
workbench evaluator) and peak GPU memory on CUDA. ``--roofline`` adds model FLOP/s (3x the
forward FLOPs of the real tokens, no padding) as a share of the bf16 matmul rate measured in the
same run. Reference rows/s on this machine (shared/reference, 2 threads, fp32): m2d 39.7 (bf16
53.7), bce 35.2, adaptive 16.5.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from datasets import Dataset
from roofline import bf16_matmul_tflops
from timing import CLOCK, Clock, seconds
from transformers import set_seed

from workbench import settings
from workbench.fast.malloc import keep_freed_memory
from workbench.models.specs import packaged_model_dir, resolve_model
from workbench.training import TrainConfig, train

HPARAMS = dict(num_train_epochs=1, learning_rate=5e-5, warmup_ratio=0.1)


@dataclass
class Experiment:
    data: tuple[str, ...]
    batch: int
    sampler: str = "batch_sampler"


EXPERIMENTS = {"m2d": Experiment(("stsb/train",), 16),
               "bce": Experiment(("stsb/train",), 64),
               "adaptive": Experiment(("allnli/dev", "allnli/test"), 128, "no_duplicates")}


@dataclass
class Setup:
    """Where and how one side trains (the command line, minus the experiment)."""

    name: str
    precision: str = "bf16"
    device: str = "cpu"
    model: str = field(default_factory=lambda: str(packaged_model_dir()))
    group_by_length: bool = False


def dims(model_dir: str) -> list[int]:
    """The Matryoshka dims: the hidden size and powers of two below it, five in all (384 -> 32)."""
    from grid_vs_st import cells

    return cells(model_dir)[1]


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


def ours_model_and_loss(s: Setup) -> tuple[Any, Any]:
    from workbench.losses import LOSSES
    from workbench.models.bi_encoder import BiEncoder
    from workbench.models.cross_encoder import CrossEncoder

    if s.name == "bce":
        model = CrossEncoder.from_pretrained(s.model)
        return model, LOSSES["BinaryCrossEntropyLoss"](model)
    model = BiEncoder.from_pretrained(s.model)
    if s.name == "m2d":
        return model, LOSSES["Matryoshka2dLoss"](model, LOSSES["CoSENTLoss"](model), dims(s.model))
    return model, LOSSES["AdaptiveLayerLoss"](model, LOSSES["MultipleNegativesRankingLoss"](model),
                                              n_layers_per_step=1, kl_temperature=0.3)


def ours_trainer(s: Setup, data: Dataset, seed: int, out: str) -> tuple[Any, Callable[[], Any]]:
    """The workbench model and its zero-argument training call (model built after seeding)."""
    exp = EXPERIMENTS[s.name]
    set_seed(seed)
    model, loss = ours_model_and_loss(s)
    cfg = TrainConfig(**HPARAMS, seed=seed, output_dir=out, per_device_train_batch_size=exp.batch,
                      batch_sampler=exp.sampler, precision=s.precision,
                      group_by_length=s.group_by_length, logging_steps=50, save_steps=10**9,
                      track_emissions=False, disable_tqdm=True)
    return model, lambda: train(model, loss, data, cfg)


def st_trainer(s: Setup, data: Dataset, seed: int, out: str) -> tuple[Any, Callable[[], Any]]:
    """The sentence-transformers model and its ``trainer.train`` (model built after seeding)."""
    import sentence_transformers as st
    from sentence_transformers import losses

    exp = EXPERIMENTS[s.name]
    set_seed(seed)
    common = dict(output_dir=out, **HPARAMS, seed=seed, per_device_train_batch_size=exp.batch,
                  bf16=s.precision == "bf16", use_cpu=s.device == "cpu", save_strategy="no",
                  report_to=[], logging_steps=50, disable_tqdm=True)
    if s.name == "bce":
        from sentence_transformers.cross_encoder import (
            CrossEncoder,
            CrossEncoderTrainer,
            CrossEncoderTrainingArguments,
        )
        from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

        model = CrossEncoder(s.model, num_labels=1, device=s.device)
        trainer = CrossEncoderTrainer(model=model, args=CrossEncoderTrainingArguments(**common),
                                      train_dataset=data, loss=BinaryCrossEntropyLoss(model))
        return model, trainer.train
    model = st.SentenceTransformer(s.model, device=s.device)
    if s.name == "m2d":
        loss = losses.Matryoshka2dLoss(model, losses.CoSENTLoss(model), dims(s.model))
    else:
        loss = losses.AdaptiveLayerLoss(model, losses.MultipleNegativesRankingLoss(model),
                                        n_layers_per_step=1, kl_temperature=0.3)
    args = st.SentenceTransformerTrainingArguments(**common, batch_sampler=exp.sampler)
    trainer = st.SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=loss)
    return model, trainer.train


def st_as_workbench(s: Setup, model: Any, out: str) -> Any:
    """Save the reference model and reload it in the workbench, so one evaluator scores both."""
    from workbench.models.bi_encoder import BiEncoder
    from workbench.models.cross_encoder import CrossEncoder

    folder = os.path.join(out, "st-model")
    model.save_pretrained(folder) if s.name == "bce" else model.save(folder)
    loaded = (CrossEncoder if s.name == "bce" else BiEncoder).from_pretrained(folder)
    return loaded.to(s.device)


@dataclass
class Result:
    side: str
    seed: int
    rows: int
    clock: Clock
    metric: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.clock.wall


def run_side(side: str, s: Setup, data: Dataset, seed: int, scored: bool = True) -> Result:
    """Train one side on ``data`` (timed), then score it unless this is a warm-up."""
    with tempfile.TemporaryDirectory() as out:
        model, call = (ours_trainer if side == "workbench" else st_trainer)(s, data, seed, out)
        with Clock(s.device) as clock:
            call()
        if not scored:
            return Result(side, seed, len(data), clock, float("nan"))
        trained = model if side == "workbench" else st_as_workbench(s, model, out)
        metric = score(s.name, trained)
    r = Result(side, seed, len(data), clock, metric)
    print(f"  seed {seed} {side:10s}: {r.rows_per_s:7.1f} rows/s wall, "
          f"{len(data) / clock.cpu:7.1f} rows per CPU-s, peak GPU {clock.peak_mb:6.0f} MB, "
          f"final metric {metric:.4f}", flush=True)
    return r


def train_flops(s: Setup, data: Dataset) -> float:
    """3 x forward FLOPs (forward + backward) over the real tokens of one epoch of ``data``."""
    from roofline import model_flops
    from transformers import AutoConfig, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(s.model)
    texts = [c for c in data.column_names if c not in ("score", "label")]
    if s.name == "bce":
        enc = tok(list(data[texts[0]]), list(data[texts[1]]), truncation=True, max_length=512)
        lengths = [len(ids) for ids in enc["input_ids"]]
    else:
        lengths = [len(ids) for c in texts
                   for ids in tok(list(data[c]), truncation=True, max_length=256)["input_ids"]]
    return 3 * model_flops(lengths, AutoConfig.from_pretrained(s.model))


def summarise(results: list[Result], flops: float | None, peak_tflops: float | None
              ) -> dict[str, float]:
    """Prints the per-side table; returns the speed ratio, quality delta and roofline shares."""
    print(f"\n{'side':10} {'median rows/s':>13} {'metric mean':>11} {'sd':>7} {'peak GPU MB':>11}"
          + (f" {'model TFLOP/s':>13} {'% bf16 matmul':>13}" if flops else ""))
    by_side: dict[str, list[Result]] = {}
    for r in results:
        by_side.setdefault(r.side, []).append(r)
    out: dict[str, float] = {}
    for side, rs in by_side.items():
        med = statistics.median(seconds(r.clock) for r in rs)
        metrics = [r.metric for r in rs]
        sd = statistics.stdev(metrics) if len(rs) > 1 else float("nan")
        out[f"{side} rows/s"], out[f"{side} metric"] = rs[0].rows / med, statistics.mean(metrics)
        line = (f"{side:10} {rs[0].rows / med:13.1f} {statistics.mean(metrics):11.4f} {sd:7.4f} "
                f"{max(r.clock.peak_mb for r in rs):11.0f}")
        if flops and peak_tflops:
            rate = flops / med / 1e12
            out[f"{side} % bf16 matmul"] = 100 * rate / peak_tflops
            line += f" {rate:13.3f} {100 * rate / peak_tflops:12.1f}%"
        print(line)
    if len(by_side) == 2:
        ours, ref = by_side["workbench"], by_side["ST trainer"]
        wall = (statistics.median(seconds(r.clock) for r in ref)
                / statistics.median(seconds(r.clock) for r in ours))
        cpu = statistics.median(r.clock.cpu for r in ref) / statistics.median(r.clock.cpu for r in ours)
        delta = statistics.mean(r.metric for r in ours) - statistics.mean(r.metric for r in ref)
        out.update({"ratio": wall, "delta": delta, "seeds": len(ours)})
        print(f"speed ratio (medians) {wall:.2f}x ({CLOCK['which']}), {cpu:.2f}x CPU time (target >= 2.5x); "
              f"delta mean metric {delta:+.4f} over {len(ours)} seed(s) (target |delta| <= 0.005)")
    return out


def run(s: Setup, max_rows: int | None = None, seeds: Sequence[int] = (42,), skip_st: bool = False,
        warm_up: bool = True, roofline: bool = True) -> dict[str, float]:
    """Warm-up, then both sides per seed (interleaved), scored; returns :func:`summarise`'s dict."""
    data = load(EXPERIMENTS[s.name].data, max_rows)
    kept = keep_freed_memory()  # as the workbench trainer does in its process: both sides gain
    sides = ["workbench"] + ([] if skip_st else ["ST trainer"])
    print(f"{s.name}: {len(data)} rows, {s.precision}, device {s.device}, "
          f"{torch.get_num_threads()} threads, seeds {list(seeds)}; glibc malloc keeps freed memory"
          f" for both sides: {kept or 'no (exported MALLOC_* values or not glibc)'}", flush=True)
    if warm_up:
        few = data.select(range(min(len(data), 3 * EXPERIMENTS[s.name].batch)))
        for side in sides:
            run_side(side, s, few, seeds[0], scored=False)
    results = [run_side(side, s, data, seed) for seed in seeds for side in sides]
    flops = train_flops(s, data) if roofline else None
    peak = bf16_matmul_tflops(s.device) if roofline else None
    if peak:
        print(f"bf16 matmul rate measured now: {peak:.3f} TFLOP/s; one epoch = {flops / 1e12:.2f}"
              f" TFLOP (3 x useful forward)")
    return {**summarise(results, flops, peak), "rows": len(data)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="m2d", choices=sorted(EXPERIMENTS))
    parser.add_argument("--max-rows", type=int, default=None, help="train rows (default: all)")
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42], help="one repeat per seed")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--model", default=None, help="model folder (default all-MiniLM-L6-v2)")
    parser.add_argument("--group-by-length", action="store_true",
                        help="workbench only: length-grouped batches (changes the batch mix)")
    parser.add_argument("--skip-st", action="store_true", help="only the workbench side")
    parser.add_argument("--padded", action="store_true",
                        help="workbench on Hugging Face's padded forward (no padding-free path)")
    parser.add_argument("--roofline", action="store_true", help="model FLOP/s vs bf16 matmul")
    parser.add_argument("--no-warm-up", action="store_true", help="skip the untimed warm-up")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (1 when other jobs load the cores: 2 threads on one "
                             "free core mostly wait for each other)")
    args = parser.parse_args()
    s = Setup(args.experiment, args.precision, args.device, resolve_model(args.model or "minilm-l6"),
              args.group_by_length)
    torch.set_num_threads(max(1, min(args.threads, os.cpu_count() or 1)))
    if args.padded:
        from workbench.fast import unpadded

        unpadded.supports = unpadded.supports_classifier = lambda *_: False
    run(s, args.max_rows, args.seeds, args.skip_st, not args.no_warm_up, args.roofline)


if __name__ == "__main__":
    main()
