"""Reranker inference on STS-B test: ``CrossEncoder.predict`` against sentence-transformers 6.2.

    python bench/predict_vs_st.py [--threads 1] [--repeats 3] [--batch-size 32] [--device cuda]

Both sides load the same folder: all-MiniLM-L6-v2's encoder with a new one-logit head (seeded,
so both read the same random head), written once in the sentence-transformers cross-encoder
layout. Contenders score the 1,379 STS-B test pairs at the same batch size: the workbench in
fp32 and bf16 (``predict(precision=...)``), sentence-transformers in fp32 and in bf16 both ways
(weights cast with ``model.to(torch.bfloat16)``, and autocast); the workbench's bf16 is compared
with the faster of the two. Rounds are interleaved (the starting contender rotates), medians.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from timing import interleaved, medians

DATA = Path(os.environ.get("WORKBENCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def reranker_folder(model: str, folder: Path) -> Path:
    """``model``'s encoder with a seeded one-logit head, saved as a cross-encoder in ``folder``."""
    from workbench.models.cross_encoder import CrossEncoder

    torch.manual_seed(0)
    return CrossEncoder.from_pretrained(model).save(folder)


def contenders(folder: Path, pairs: list[tuple[str, str]], batch_size: int,
               device: str) -> dict[str, Callable[[], torch.Tensor]]:
    """name -> zero-argument scoring call returning (N,) fp32 scores on the CPU."""
    from sentence_transformers import CrossEncoder as STCrossEncoder

    from workbench.models.cross_encoder import CrossEncoder

    wb = CrossEncoder.from_pretrained(folder).to(device)
    st = STCrossEncoder(str(folder), device=device)
    st_bf16 = STCrossEncoder(str(folder), device=device)
    st_bf16.model.to(torch.bfloat16)

    def st_predict(model: STCrossEncoder, autocast: bool = False) -> torch.Tensor:
        ctx = (torch.autocast(device, dtype=torch.bfloat16) if autocast
               else contextlib.nullcontext())
        with ctx:
            scores = model.predict(pairs, batch_size=batch_size, convert_to_tensor=True,
                                   show_progress_bar=False)
        return scores.float().cpu()

    return {
        "workbench fp32": lambda: wb.predict(pairs, batch_size, show_progress=False),
        "workbench bf16": lambda: wb.predict(pairs, batch_size, "bf16", show_progress=False),
        "ST fp32": lambda: st_predict(st),
        "ST bf16 weights": lambda: st_predict(st_bf16),
        "ST bf16 autocast": lambda: st_predict(st, autocast=True),
    }


def run(model: str, repeats: int = 3, batch_size: int = 32, device: str = "cpu") -> dict[str, float]:
    """Warm-up, then ``repeats`` interleaved rounds; prints the table, returns the ratios."""
    test = pd.read_parquet(DATA / "stsb" / "test.parquet")
    pairs = list(zip(test["sentence1"], test["sentence2"], strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        calls = contenders(reranker_folder(model, Path(tmp) / "ce"), pairs, batch_size, device)
        outputs = {name: call() for name, call in calls.items()}  # warm-up
        med = medians(interleaved(calls, repeats, device))
    st_bf16 = min(("ST bf16 weights", "ST bf16 autocast"), key=med.__getitem__)
    result = {"predict fp32 vs ST fp32": med["ST fp32"] / med["workbench fp32"],
              "predict bf16 vs ST fastest bf16": med[st_bf16] / med["workbench bf16"],
              "max |workbench fp32 - ST fp32|": float(
                  (outputs["workbench fp32"] - outputs["ST fp32"]).abs().max()),
              "max |workbench bf16 - ST fp32|": float(
                  (outputs["workbench bf16"] - outputs["ST fp32"]).abs().max())}
    print(f"\n{len(pairs)} pairs, batch {batch_size}, threads {torch.get_num_threads()}; "
          f"ST fastest bf16: {st_bf16}")
    for name, seconds in med.items():
        print(f"{name:18} {seconds:7.2f} s  {len(pairs) / seconds:7.0f} pairs/s")
    for key, value in result.items():
        print(f"{key}: {value:.3g}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--model", default="minilm-l6", help="folder or alias (default minilm-l6)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from workbench.models.specs import resolve_model

    run(resolve_model(args.model), args.repeats, args.batch_size, args.device)


if __name__ == "__main__":
    main()
