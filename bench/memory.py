"""Peak resident memory (RSS) of encoding and training: the workbench against sentence-transformers.

Each case runs in its own subprocess, so every peak is clean: ``resource.getrusage`` ``ru_maxrss``
read once after imports and model load ("loaded") and once at the end ("peak"); "delta" is what
the work itself added on top of the loaded model. Encode: the 2,758 STS-B test sentences. Train:
each experiment of ``train_vs_st.py`` (m2d, bce, adaptive; their cpu batch sizes, bf16) for
``--train-steps`` steps, built by that script's own setup functions on both sides.

    python bench/memory.py [--threads 2] [--batch-size 64] [--train-steps 10] [--no-train]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(os.environ.get("WORKBENCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
os.environ.setdefault("WORKBENCH_DATA", str(DATA))
ENCODE_CASES = ("workbench fp32", "workbench bf16", "ST fp32", "ST bf16 weights", "ST bf16 autocast")
TRAIN_CASES = tuple(f"{e} {side} bf16" for e in ("m2d", "bce", "adaptive") for side in ("workbench", "ST"))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def encode_case(case: str, model_dir: str, batch_size: int) -> Callable[[], object]:
    """Load the model for ``case``; return the encode call."""
    import pandas as pd
    import torch

    test = pd.read_parquet(DATA / "stsb" / "test.parquet")
    texts = list(test.sentence1) + list(test.sentence2)
    if case.startswith("workbench"):
        from workbench.models.bi_encoder import BiEncoder

        enc = BiEncoder.from_pretrained(model_dir)
        return lambda: enc.encode(texts, batch_size=batch_size, precision=case.split()[-1],
                                  show_progress=False)
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(model_dir, device="cpu")
    if case == "ST bf16 weights":
        st.to(torch.bfloat16)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16, enabled=case == "ST bf16 autocast")

    def run() -> object:
        with ctx:
            return st.encode(texts, batch_size=batch_size, convert_to_tensor=True)

    return run


def train_case(case: str, model_dir: str, steps: int, out: str) -> Callable[[], object]:
    """Load model, loss and data for ``case`` ("<experiment> <side> <precision>"), as
    ``train_vs_st.py`` builds them; return the training call."""
    from train_vs_st import EXPERIMENTS, Setup, load, ours_trainer, st_trainer

    name, side, precision = case.split()
    exp = EXPERIMENTS[name]
    data = load(exp.data, exp.batch * steps)
    build = ours_trainer if side == "workbench" else st_trainer
    return build(Setup(name, precision, "cpu", model_dir), data, 42, out)[1]


def child(kind: str, case: str, args: argparse.Namespace) -> None:
    """Run one case in this process and print its memory as one JSON line."""
    import torch

    from workbench.models.specs import resolve_model

    torch.set_num_threads(args.threads)
    model_dir = resolve_model(args.model or "minilm-l6")
    with tempfile.TemporaryDirectory() as out:
        if kind == "encode":
            call = encode_case(case, model_dir, args.batch_size)
        else:
            call = train_case(case, model_dir, args.train_steps, out)
        loaded = peak_mb()
        call()
    print(json.dumps({"kind": kind, "case": case, "loaded_mb": loaded, "peak_mb": peak_mb()}))


def run_child(kind: str, case: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, case, "--threads", str(args.threads),
           "--batch-size", str(args.batch_size), "--train-steps", str(args.train_steps)]
    cmd += ["--model", args.model] if args.model else []
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        print(f"{kind} / {case} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return {"kind": kind, "case": case, "loaded_mb": float("nan"), "peak_mb": float("nan")}
    return json.loads(lines[-1])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-steps", type=int, default=10)
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("--model", default=None, help="model spec (default all-MiniLM-L6-v2)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(*args.child, args)
    jobs = [("encode", c) for c in ENCODE_CASES]
    jobs += [] if args.no_train else [("train", c) for c in TRAIN_CASES]
    print(f"{'kind':6} {'case':22} {'loaded MB':>10} {'peak MB':>8} {'delta MB':>9}")
    for kind, case in jobs:
        r = run_child(kind, case, args)
        print(f"{kind:6} {case:22} {r['loaded_mb']:10.0f} {r['peak_mb']:8.0f} "
              f"{r['peak_mb'] - r['loaded_mb']:9.0f}", flush=True)


if __name__ == "__main__":
    main()
