"""One 2D-Matryoshka training step, workbench vs sentence-transformers, same batch and weights.

Times forward+loss, backward and the AdamW step of each side (interleaved repeats, median wall
and CPU time), and counts the ops that show how much work each does (linear layers = transformer
forwards, softmax/log_softmax = KL terms). bf16 autocast is applied as each trainer applies it.
The workbench step's GEMMs are also replayed alone (:mod:`gemm_floor`): the ceiling of its ratio
if everything else took no time.

    python bench/profile_m2d_step.py --repeats 5 [--precision fp32] [--batch 16] [--model mpnet-base]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable

import pandas as pd
import torch
from gemm_floor import describe, record, replay
from timing import Clock
from train_vs_st import dims

from workbench import settings
from workbench.fast.malloc import keep_freed_memory
from workbench.fast.row_adamw import RowAdamW, claim_or_densify
from workbench.fast.sparse_grads import DenseGradients, sparse_word_gradients
from workbench.losses import LOSSES
from workbench.models.bi_encoder import BiEncoder
from workbench.models.specs import resolve_model
from workbench.training import TrainConfig, clipping
from workbench.training.optim import make_optimizer

COUNTED = ("aten::linear", "aten::addmm", "aten::mm", "aten::softmax", "aten::_softmax",
           "aten::log_softmax", "aten::kl_div", "aten::scaled_dot_product_attention",
           "aten::_fused_adamw_", "aten::_foreach_mul_", "aten::isfinite", "aten::to")


def batch(size: int) -> tuple[list[list[str]], torch.Tensor]:
    frame = pd.read_parquet(settings.data_dir() / "stsb" / "train.parquet").head(size)
    return [list(frame.sentence1), list(frame.sentence2)], torch.tensor(frame.score.values).float()


def ours_step(model: str, precision: str, cols, labels) -> Callable[[], dict[str, float]]:
    from accelerate import Accelerator

    enc = BiEncoder.from_pretrained(model)
    loss = LOSSES["Matryoshka2dLoss"](enc, LOSSES["CoSENTLoss"](enc), matryoshka_dims=dims(model))
    acc = Accelerator(mixed_precision="no", cpu=True)
    module, opt = loss, make_optimizer(loss, TrainConfig(learning_rate=5e-5))
    module.train()
    dense = DenseGradients()  # as the trainer does in one CPU process

    @contextlib.contextmanager
    def forward_context():
        with enc.mixed_precision(precision), sparse_word_gradients():
            yield

    params = list(module.parameters())
    rows = RowAdamW(opt)  # the word embeddings' used rows, as the trainer steps them

    def clip() -> None:  # as the trainer clips in one CPU process: inside fused AdamW's step
        clipping.clip_in_optimizer(opt, [p for p in params if p.grad is not None], 1.0, dense)

    return phased_step(enc.tokenize, forward_context, module, acc, opt, cols, labels,
                       after_backward=lambda: claim_or_densify(rows, dense, params), clip=clip,
                       stepping=rows.stepping)


def phased_step(tokenize, forward_context, loss, acc, opt, cols, labels, params=None,
                after_backward=None, clip=None, stepping=None) -> Callable[[], dict[str, float]]:
    """One training step, timed phase by phase: tokenize, forward+loss (inside
    ``forward_context()``), backward (then ``after_backward()``), clip (``clip()``, default
    accelerate's ``clip_grad_norm_`` to 1.0) + AdamW step (inside ``stepping()``)."""
    params = list(loss.parameters() if params is None else params)
    clip = clip or (lambda: acc.clip_grad_norm_(params, 1.0))

    def step() -> dict[str, float]:
        t = [time.perf_counter()]
        feats = [tokenize(c) for c in cols]
        t.append(time.perf_counter())
        with forward_context():
            value = loss(feats, labels)
        t.append(time.perf_counter())
        acc.backward(value)
        if after_backward is not None:
            after_backward()
        t.append(time.perf_counter())
        clip()
        with stepping() if stepping is not None else contextlib.nullcontext():
            opt.step()
        clipping.release(opt)
        opt.zero_grad(set_to_none=True)
        t.append(time.perf_counter())
        return dict(zip(("tokenize", "forward", "backward", "optim"),
                        (b - a for a, b in zip(t, t[1:], strict=False)), strict=True))
    return step


def st_step(model_dir: str, precision: str, cols, labels) -> Callable[[], dict[str, float]]:
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainingArguments
    from sentence_transformers.losses import CoSENTLoss, Matryoshka2dLoss
    from transformers import Trainer

    model = SentenceTransformer(model_dir, device="cpu")
    loss = Matryoshka2dLoss(model, CoSENTLoss(model), dims(model_dir))
    args = SentenceTransformerTrainingArguments(output_dir="/tmp/st-profile", use_cpu=True,
                                                bf16=precision == "bf16", report_to=[])
    trainer = Trainer(model=model, args=args)  # builds the accelerator exactly as ST's does
    acc = trainer.accelerator
    model = acc.prepare_model(model)  # autocast around model.forward only, fp32 outputs
    opt = trainer.create_optimizer()
    model.train()

    return phased_step(model.tokenize, trainer.compute_loss_context_manager, loss, acc, opt, cols,
                       labels, params=model.parameters())


def op_counts(step: Callable[[], dict[str, float]]) -> Counter:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
    return Counter({e.key: e.count for e in prof.key_averages() if e.key in COUNTED})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="minilm-l6", help="folder or alias (mpnet-base)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as the workbench trainer does in its process, for both sides
    cols, labels = batch(args.batch)
    model = resolve_model(args.model)
    steps = {"workbench": ours_step(model, args.precision, cols, labels),
             "ST": st_step(model, args.precision, cols, labels)}
    wall: dict[str, list] = {k: [] for k in steps}
    cpu: dict[str, list] = {k: [] for k in steps}
    for i in range(args.repeats + 1):
        for name, step in steps.items():
            random.seed(i)  # same sampled layer and dim on both sides
            c0 = time.process_time()
            parts = step()
            if i:  # first = warm-up
                wall[name].append(parts)
                cpu[name].append(time.process_time() - c0)
    for name in steps:
        med = {k: statistics.median(p[k] for p in wall[name]) * 1e3 for k in wall[name][0]}
        parts = "  ".join(f"{k} {v:6.1f}" for k, v in med.items())
        print(f"{name:9s} ms: {parts}  total {sum(med.values()):6.1f}  "
              f"cpu {statistics.median(cpu[name]) * 1e3:6.1f}")
    print_floor(steps["workbench"], args.repeats, statistics.median(cpu["ST"]))
    for name, step in steps.items():
        random.seed(0)
        print(name, dict(sorted(op_counts(step).items())))


def print_floor(step: Callable[[], dict[str, float]], repeats: int, reference_s: float) -> None:
    """The step's GEMMs (forward and backward) replayed alone (:mod:`gemm_floor`): the least
    the step could take if nothing else did, and so the most its ratio could reach."""
    random.seed(0)
    calls = record(step)
    floor = replay(calls)
    floor()  # warm-up
    times = []
    for _ in range(repeats):
        with Clock() as clock:
            floor()
        times.append(clock.cpu)
    best = statistics.median(times)
    print(f"workbench step's GEMMs alone: {best * 1e3:.1f} ms CPU ({describe(calls, best)}): at "
          f"most {reference_s / best:.2f}x ST's step with everything else free")

if __name__ == "__main__":
    main()
