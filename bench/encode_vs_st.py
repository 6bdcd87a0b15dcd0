"""Encode throughput on STS-B test: the workbench against sentence-transformers 6.2, and the roofline.

Contenders on the 2,758 STS-B test sentences (sentence1 + sentence2), same batch size:
workbench fp32 and bf16 (``BiEncoder.encode(precision=...)``), sentence-transformers fp32, and
sentence-transformers bf16 both ways (weights cast with ``model.to(torch.bfloat16)``, and CPU
autocast); the workbench's bf16 is compared with the faster of the two. Rounds are interleaved
(the starting contender rotates) and the table shows medians, so a noisy neighbour hits all alike.

The workbench encodes a repeated text once (STS-B test: 2,552 distinct of 2,758), so two more
contenders encode only the distinct texts, workbench bf16 and sentence-transformers bf16 weights:
their ratio is the speed per text with the same work on both sides. On CUDA, "workbench fp32
graphs" and "workbench bf16 graphs" are the workbench's encodes through captured CUDA graphs
(:mod:`workbench.fast.cuda_graphs`, ``WORKBENCH_CUDA_GRAPHS=1`` for the call).

The roofline: large square ``torch.matmul`` in bf16 and fp32, timed inside the same rounds. Model
FLOPs count the useful work from actual token counts (no padding): per text of L tokens and per
layer, 2 x (matmul parameters) x L + 4 x L^2 x H for attention scores and the weighted sum; each
contender's share counts the texts it encodes (the workbench's: the distinct ones). On
the CPU the rounds also time the GEMM floor (:mod:`gemm_floor`): the workbench bf16 encode's own
linear layers replayed alone, which bounds what its ratio could reach if nothing else took time.

    python bench/encode_vs_st.py [--threads 2] [--batch-size 64] [--repeats 5]
    python bench/encode_vs_st.py --device cuda --texts all --batch-size 256   # on a GPU

``--texts all`` encodes every STS-B sentence (train, validation and test: 17,256) so a GPU run
lasts long enough to time; Spearman is still read off the test pairs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from gemm_floor import record, replay
from roofline import matmul_call, matmul_tflops, model_flops
from timing import interleaved, medians

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(os.environ.get("WORKBENCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def load_stsb(which: str = "test") -> tuple[list[str], list[float]]:
    """The STS-B test texts (sentence1 then sentence2) and the gold scores; with ``which="all"``
    the other splits' sentences follow them."""
    import pandas as pd

    test = pd.read_parquet(DATA / "stsb" / "test.parquet")
    texts = list(test.sentence1) + list(test.sentence2)
    for split in ("train", "validation") if which == "all" else ():
        frame = pd.read_parquet(DATA / "stsb" / f"{split}.parquet")
        texts += list(frame.sentence1) + list(frame.sentence2)
    return texts, [float(s) for s in test.score]


DISTINCT = ("workbench bf16 distinct", "ST bf16 distinct")
"""The contenders that encode each distinct text once (:func:`contenders`)."""


def contenders(model_dir: str, texts: list[str], batch_size: int,
               device: str = "cpu") -> dict[str, Callable[[], torch.Tensor]]:
    """name -> zero-argument encode call returning (N, H) fp32 embeddings on the CPU (the
    :data:`DISTINCT` ones: of the distinct texts, in first-seen order)."""
    from sentence_transformers import SentenceTransformer

    from workbench.models.bi_encoder import BiEncoder, distinct_texts

    wb = BiEncoder.from_pretrained(model_dir).to(device)
    st = SentenceTransformer(model_dir, device=device)
    st_bf16 = SentenceTransformer(model_dir, device=device).to(torch.bfloat16)

    distinct = distinct_texts(texts)[0]

    def st_encode(model: SentenceTransformer, autocast: bool = False,
                  which: list[str] = texts) -> torch.Tensor:
        ctx = (torch.autocast(device, dtype=torch.bfloat16) if autocast
               else contextlib.nullcontext())
        with ctx:
            return model.encode(which, batch_size=batch_size, convert_to_tensor=True).float().cpu()

    calls = {
        "workbench fp32": lambda: wb.encode(texts, batch_size=batch_size, show_progress=False),
        "workbench bf16": lambda: wb.encode(texts, batch_size=batch_size, precision="bf16",
                                            show_progress=False),
        "ST fp32": lambda: st_encode(st),
        "ST bf16 weights": lambda: st_encode(st_bf16),
        "ST bf16 autocast": lambda: st_encode(st, autocast=True),
        DISTINCT[0]: lambda: wb.encode(distinct, batch_size=batch_size, precision="bf16",
                                       show_progress=False),
        DISTINCT[1]: lambda: st_encode(st_bf16, which=distinct),
    }
    if device == "cuda":  # the same encodes through captured CUDA graphs
        for precision in ("fp32", "bf16"):
            calls[f"workbench {precision} graphs"] = graphed(calls[f"workbench {precision}"])
    return calls


def graphed(call: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """``call`` with ``WORKBENCH_CUDA_GRAPHS=1`` for its duration (:mod:`workbench.fast.cuda_graphs`)."""
    from workbench import settings

    def run() -> torch.Tensor:
        before = os.environ.get(settings.CUDA_GRAPHS_ENV)
        os.environ[settings.CUDA_GRAPHS_ENV] = "1"
        try:
            return call()
        finally:
            if before is None:
                del os.environ[settings.CUDA_GRAPHS_ENV]
            else:
                os.environ[settings.CUDA_GRAPHS_ENV] = before
    return run


def padding_efficiency(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Real tokens / padded tokens over these batches (index lists into ``lengths``)."""
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return sum(lengths) / padded


def gpu_peaks(calls: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Peak GPU memory (MB, allocated by torch) of one call of each contender, weights included."""
    peaks = {}
    for name, call in calls.items():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        call()
        peaks[name] = torch.cuda.max_memory_allocated() / 2**20
    return peaks


def spearman(emb: torch.Tensor, scores: list[float]) -> float:
    from scipy.stats import spearmanr

    n = len(scores)
    cos = torch.nn.functional.cosine_similarity(emb[:n], emb[n:2 * n]).numpy()
    return float(spearmanr(cos, scores).statistic)


def quality(outputs: dict[str, torch.Tensor], scores: list[float]) -> dict[str, float]:
    """Spearman of each contender, plus the bf16-vs-fp32 and workbench-vs-ST agreement."""
    cos = torch.nn.functional.cosine_similarity(outputs["workbench bf16"], outputs["workbench fp32"])
    result = {f"spearman {n}": spearman(e, scores) for n, e in outputs.items()
              if n not in DISTINCT}
    result["min cosine workbench bf16 vs fp32"] = float(cos.min())
    for name in ("workbench fp32", "workbench fp32 graphs"):
        if name in outputs:
            result[f"max |{name} - ST fp32|"] = float((outputs[name] - outputs["ST fp32"]).abs().max())
    return result


FLOOR = "matmul GEMMs of workbench bf16"
"""The workbench bf16 encode's linear layers alone (:mod:`gemm_floor`): no change outside its
GEMMs can take that encode below this time."""


def summary(times: dict[str, list[float]], flops: dict[str, float],
            device: str = "cpu") -> dict[str, float]:
    """The ratios and roofline shares of issue 17's table from the rounds' medians (``flops``:
    each contender's model FLOPs); with the GEMM floor, the most the bf16 ratio could reach if
    everything but the GEMMs took no time."""
    med = medians(times)
    tflops = {dt: matmul_tflops(med[f"matmul {dt}"], device) for dt in ("bf16", "fp32")}
    st_bf16 = min(("ST bf16 weights", "ST bf16 autocast"), key=med.__getitem__)
    share = {n: flops[n] / med[n] / 1e12 / tflops["bf16"] for n in flops}
    return {"encode fp32 vs ST fp32": med["ST fp32"] / med["workbench fp32"],
            "encode bf16 vs ST fastest bf16": med[st_bf16] / med["workbench bf16"],
            "encode bf16 vs ST bf16, distinct texts": med[DISTINCT[1]] / med[DISTINCT[0]],
            **({"encode fp32 graphs vs ST fp32": med["ST fp32"] / med["workbench fp32 graphs"],
                "encode bf16 graphs vs ST fastest bf16": med[st_bf16] / med["workbench bf16 graphs"]}
               if "workbench bf16 graphs" in med else {}),
            "bf16 matmul TFLOP/s": tflops["bf16"], "fp32 matmul TFLOP/s": tflops["fp32"],
            **{f"{n} s": med[n] for n in share}, **{f"{n} % bf16 matmul": 100 * v
                                                   for n, v in share.items()},
            "ST fastest bf16 is autocast": float(st_bf16 == "ST bf16 autocast"),
            **({"workbench bf16 GEMMs alone s": med[FLOOR],
                "encode bf16 ceiling vs ST fastest bf16": med[st_bf16] / med[FLOOR]}
               if FLOOR in med else {})}


def print_table(times: dict[str, list[float]], counts: dict[str, int], flops: dict[str, float],
                scores: dict[str, float], device: str = "cpu") -> None:
    """One row per contender (``counts``: the texts each encodes); the :data:`DISTINCT` ones
    compare with each other only."""
    med, res = medians(times), summary(times, flops, device)
    st_bf16 = "ST bf16 autocast" if res["ST fastest bf16 is autocast"] else "ST bf16 weights"
    print(f"\nroofline (median): bf16 matmul {res['bf16 matmul TFLOP/s']:.3f} TFLOP/s, fp32 "
          f"{res['fp32 matmul TFLOP/s']:.3f} TFLOP/s; model pass = {flops['ST fp32'] / 1e9:.1f} "
          f"GFLOP, distinct texts {flops[DISTINCT[0]] / 1e9:.1f} (from token counts)\nST fastest "
          f"bf16: {st_bf16}\n")
    width = max(map(len, counts))
    print(f"{'contender':{width}} {'median s':>9} {'min s':>7} {'sent/s':>7} {'x ST fp32':>9} "
          f"{'x ST bf16':>9} {'% bf16 roof':>11} {'spearman':>8}")
    for name, count in counts.items():
        fp32 = float("nan") if name in DISTINCT else med["ST fp32"] / med[name]
        bf16 = med[DISTINCT[1] if name in DISTINCT else st_bf16] / med[name]
        print(f"{name:{width}} {med[name]:9.2f} {min(times[name]):7.2f} {count / med[name]:7.0f} "
              f"{fp32:9.2f} {bf16:9.2f} {res[f'{name} % bf16 matmul']:10.1f}% "
              f"{scores.get(f'spearman {name}', float('nan')):8.4f}")
    if FLOOR in med:
        print(f"workbench bf16, its GEMMs alone: {med[FLOOR]:.2f} s "
              f"({100 * med[FLOOR] / med['workbench bf16']:.1f}% of its encode): at most "
              f"{res['encode bf16 ceiling vs ST fastest bf16']:.2f}x {st_bf16} with everything "
              f"else free")
    for key, value in scores.items():
        if not key.startswith("spearman"):
            print(f"{key}: {value:.6g}")


def run(model_dir: str, repeats: int = 3, batch_size: int = 64, device: str = "cpu",
        which: str = "test") -> tuple[dict[str, float], dict[str, float]]:
    """Warm-up, then ``repeats`` interleaved rounds of every contender and both matmuls; prints
    the table and returns ``(summary, quality)``."""
    from transformers import AutoConfig, AutoTokenizer

    from workbench.fast.bf16_inference import TOKENS_PER_TEXT, token_batches

    texts, scores = load_stsb(which)
    calls = contenders(model_dir, texts, batch_size, device)
    outputs = {name: call() for name, call in calls.items()}  # warm-up (and the bf16 weight cast)
    tok = AutoTokenizer.from_pretrained(model_dir)
    lengths = [len(ids) for ids in tok(texts, truncation=True, max_length=256)["input_ids"]]
    by_chars = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    fixed = [by_chars[i:i + batch_size] for i in range(0, len(texts), batch_size)]
    packed = list(token_batches(lengths, batch_size * TOKENS_PER_TEXT))
    print(f"{len(texts)} texts, {sum(lengths)} tokens (mean {sum(lengths) / len(texts):.1f}, max "
          f"{max(lengths)}); threads {torch.get_num_threads()}; batch {batch_size}; padding "
          f"efficiency: fixed batches {padding_efficiency(lengths, fixed):.2f}, workbench "
          f"token-packed {padding_efficiency(lengths, packed):.2f} ({len(packed)} batches)")
    peaks = gpu_peaks(calls) if device == "cuda" else {}
    calls.update({f"matmul {n}": matmul_call(dt, device)
                  for n, dt in (("bf16", torch.bfloat16), ("fp32", torch.float32))})
    if device == "cpu":  # the bf16 encode's own GEMMs, replayed alone: its floor
        calls[FLOOR] = replay(record(calls["workbench bf16"]))
    times = interleaved(calls, repeats, device)
    config, length_of = AutoConfig.from_pretrained(model_dir), dict(zip(texts, lengths, strict=True))
    every, distinct = model_flops(lengths, config), model_flops(list(length_of.values()), config)
    names = [n for n in times if not n.startswith("matmul")]  # the GEMM floor is "matmul ..." too
    flops = {n: distinct if n.startswith("workbench") or n in DISTINCT else every
             for n in names}
    counts = {n: len(length_of) if n in DISTINCT else len(texts) for n in names}
    scored = quality(outputs, scores)
    print_table(times, counts, flops, scored, device)
    for name, mb in peaks.items():
        print(f"peak GPU memory {name}: {mb:.0f} MB")
    return summary(times, flops, device), scored


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--model", default=None, help="model spec (default all-MiniLM-L6-v2)")
    parser.add_argument("--texts", default="test", choices=["test", "all"])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from workbench.models.specs import resolve_model

    run(resolve_model(args.model or "minilm-l6"), args.repeats, args.batch_size, args.device,
        args.texts)


if __name__ == "__main__":
    main()
