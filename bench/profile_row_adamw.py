"""The workbench 2D-Matryoshka step with and without AdamW on the word-embedding rows in use.

Two copies of MiniLM trained side by side over an epoch's STS-B batches (shuffled, 16 pairs),
one with the row step (:mod:`workbench.fast.row_adamw`), one without (its table densified and
stepped by fused AdamW), taking turns at each batch (which goes first alternates). Both give
the same weights bit for bit, so they follow one trajectory: the same batches, the same growing
set of used rows. Prints the median optimizer phase
(clip + AdamW) and whole step (densifying or claiming the gradient is in the backward phase) of
each, and their ratios.

    python bench/profile_row_adamw.py [--steps 360] [--threads 1]
"""

from __future__ import annotations

import argparse
import random
import statistics

import pandas as pd
import torch
from profile_m2d_step import ours_step

from workbench import settings
from workbench.fast import row_adamw
from workbench.fast.malloc import keep_freed_memory
from workbench.models.specs import resolve_model

BATCH = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=360, help="steps (360 = one epoch)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="minilm-l6")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    frame = pd.read_parquet(settings.data_dir() / "stsb" / "train.parquet")
    frame = frame.sample(frac=1.0, random_state=0)
    cols, labels = [[""] * BATCH, [""] * BATCH], torch.zeros(BATCH)  # refilled every step
    model = resolve_model(args.model)
    steps = {"rows": ours_step(model, "bf16", cols, labels),
             "dense": ours_step(model, "bf16", cols, labels)}
    real = row_adamw.kernel
    times: dict[str, list[dict[str, float]]] = {"rows": [], "dense": []}
    for i in range(min(args.steps, len(frame) // BATCH)):
        rows = frame.iloc[i * BATCH:(i + 1) * BATCH]
        cols[0][:], cols[1][:] = list(rows.sentence1), list(rows.sentence2)
        labels.copy_(torch.tensor(rows.score.values))
        for mode in ("rows", "dense") if i % 2 == 0 else ("dense", "rows"):
            row_adamw.kernel = real if mode == "rows" else (lambda: None)
            random.seed(i)  # the same sampled layer and dim for both
            parts = steps[mode]()
            if i >= 2:  # the first two: warm-up
                times[mode].append(parts)
    row_adamw.kernel = real
    optim = {m: statistics.median(p["optim"] for p in ts) * 1e3 for m, ts in times.items()}
    total = {m: statistics.median(sum(p.values()) for p in ts) * 1e3 for m, ts in times.items()}
    for m in times:
        print(f"{m:6s} ms (median of {len(times[m])} steps): clip + AdamW {optim[m]:6.1f}  "
              f"whole step {total[m]:6.1f}")
    print(f"clip + AdamW {optim['dense'] / optim['rows']:.2f}x faster with the row step, whole "
          f"step {total['dense'] / total['rows']:.3f}x")

if __name__ == "__main__":
    main()
