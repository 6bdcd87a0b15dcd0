"""Where a workbench training run spends its CPU time: torch.profiler over a few steps.

    python bench/profile_train.py --experiment adaptive --rows 512 --threads 1
    python bench/profile_train.py --experiment adaptive --rows 512 --threads 1 --bucket 0

Builds the run as ``train_vs_st.py`` does (same model, loss, batch size, bf16) on the first
``--rows`` rows and prints the ops with the most self CPU time. ``--bucket N`` sets the sequences
per attention bucket of the padding-free forward (``unpadded.BUCKET_SEQUENCES``; 0: one bucket
padded to the batch's longest, as before length buckets), to see what the buckets save.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from torch.profiler import ProfilerActivity, profile
from train_vs_st import EXPERIMENTS, Setup, load, ours_trainer

from workbench.fast import unpadded


def padding_stats(name: str, model: str, seed: int = 0) -> str:
    """Mean tokens per text and mean longest text per (randomly drawn) training batch, over the
    experiment's whole training data: how much of padded attention is padding."""
    import numpy as np
    from transformers import AutoTokenizer

    exp, tok = EXPERIMENTS[name], AutoTokenizer.from_pretrained(model)
    data = load(exp.data)
    cols = [c for c in data.column_names if c not in ("score", "label")]
    lengths = np.array([[len(ids) for ids in tok(list(data[c]))["input_ids"]] for c in cols]).T
    order = np.random.default_rng(seed).permutation(len(lengths))
    longest = [lengths[order[i:i + exp.batch]].max() for i in range(0, len(order), exp.batch)]
    return (f"{len(cols)} text column(s), mean {lengths.mean():.1f} tokens a text, mean longest "
            f"per batch of {exp.batch} {np.mean(longest):.1f} (real share of a padded block: "
            f"{lengths.mean() / np.mean(longest):.0%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="adaptive", choices=sorted(EXPERIMENTS))
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--bucket", type=int, default=unpadded.BUCKET_SEQUENCES)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    unpadded.BUCKET_SEQUENCES = args.bucket or 10**9
    setup = Setup(args.experiment, args.precision)
    data = load(EXPERIMENTS[args.experiment].data, args.rows)
    with tempfile.TemporaryDirectory() as out:
        _, call = ours_trainer(setup, data, 42, out)
        start = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            call()
        wall = time.perf_counter() - start
    print(f"{args.experiment}: {len(data)} rows, bucket {args.bucket or 'none'}, "
          f"{wall:.1f} s under the profiler; {padding_stats(args.experiment, setup.model)}")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top,
                                    max_name_column_width=40))


if __name__ == "__main__":
    main()
