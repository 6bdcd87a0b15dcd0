"""Where a padding-free encode spends its CPU time: torch.profiler over one ``encode``.

    python bench/profile_encode.py --precision bf16 --texts 1000 --threads 1
    python bench/profile_encode.py --precision fp32 --texts 1000 --group

Encodes the first ``--texts`` STS-B test sentences (after one untimed warm-up encode that
prepares the weights) and prints the ops with the most self CPU time, or with ``--group`` the
time by kind: GEMMs (linear layers), attention, GELU, LayerNorm, gather/scatter (the token
rows moved into and out of attention buckets), pooling and the rest.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import torch
from encode_vs_st import load_stsb
from torch.profiler import ProfilerActivity, profile

GROUPS = {  # first matching substring of the op name wins
    "GEMM (linear layers)": ("_linear_pointwise", "addmm", "aten::mm", "mkldnn_linear", "linear"),
    "attention": ("attention", "flash", "bmm", "softmax", "baddbmm"),
    "GELU": ("gelu",),
    "LayerNorm": ("layer_norm",),
    "gather / scatter": ("index_copy", "index_select", "index", "cat", "new_zeros", "zero_",
                         "fill_", "split", "where", "masked"),
    "pooling / normalize": ("index_add", "scatter", "repeat_interleave", "norm", "div"),
    "embeddings": ("embedding",),
}


def group(prof: torch.profiler.profile) -> dict[str, float]:
    """Self CPU seconds by kind of op (:data:`GROUPS`), over the top-level aten ops."""
    out: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        name = event.key.lower()
        kind = next((g for g, keys in GROUPS.items() if any(k in name for k in keys)), "other")
        out[kind] += event.self_cpu_time_total / 1e6
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--group", action="store_true", help="time by kind of op")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from workbench.models.bi_encoder import BiEncoder

    texts = load_stsb()[0][:args.texts]
    enc = BiEncoder.from_pretrained(args.model)
    enc.encode(texts[:64], precision=args.precision, show_progress=False)  # prepares the weights
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        enc.encode(texts, precision=args.precision, show_progress=False)
    total = sum(e.self_cpu_time_total for e in prof.key_averages()) / 1e6
    print(f"{args.model} {args.precision}: {len(texts)} texts, {total:.2f} s self CPU in ops")
    if args.group:
        for kind, secs in group(prof).items():
            print(f"  {kind:22s} {secs:6.2f} s  {100 * secs / total:5.1f}%")
    else:
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top,
                                        max_name_column_width=50))


if __name__ == "__main__":
    main()
