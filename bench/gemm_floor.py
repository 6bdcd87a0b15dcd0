"""The GEMM floor of an encode: its linear layers alone, replayed, so a ratio's ceiling is measured.

:func:`record` runs one call (e.g. ``BiEncoder.encode``) under a dispatch mode that notes every
linear-layer GEMM (oneDNN's ``_linear_pointwise``, or ``addmm``/``mm``/``linear``): input shape
and dtype, weight, bias, post-op. :func:`replay` returns a call that runs exactly those GEMMs
again on stand-in inputs of the same shapes (one per shape, made once): no attention, LayerNorm,
residual adds, tokenisation or Python around them. Its time is a lower bound of the encode's:
no change outside the GEMMs can take the encode below it, so ``reference time / floor`` is the
most any such change can reach against a reference.

    python bench/gemm_floor.py --precision bf16          # MiniLM, STS-B test, 1 thread
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

INPUT = {"mkldnn::_linear_pointwise": 0, "aten::linear": 0, "aten::mm": 0, "aten::addmm": 1}
"""Each recorded op's activation argument (``addmm``'s first is the bias); the others are kept."""
WEIGHT_ROWS_OUT = ("mkldnn::_linear_pointwise", "aten::linear")  # weight (N, K); else (K, N)


class _Recorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        i = INPUT.get(func._schema.name)
        if i is not None:  # the activation itself is not kept (memory): only its shape
            kept = (*args[:i], None, *args[i + 1:])
            self.calls.append((func, i, tuple(args[i].shape), args[i].dtype, kept, kwargs or {}))
        return func(*args, **(kwargs or {}))


def record(call: Callable[[], object]) -> list[tuple]:
    """Every GEMM ``call()`` runs: ``(op, input position, input shape, input dtype, args with
    the input left out, kwargs)``."""
    with _Recorder() as recorder:
        call()
    return recorder.calls


def flops(calls: list[tuple]) -> float:
    """``2 M K N`` summed over the recorded GEMMs."""
    total = 0.0
    for func, i, shape, _, args, _ in calls:
        weight = args[i + 1]
        n = weight.shape[0] if func._schema.name in WEIGHT_ROWS_OUT else weight.shape[-1]
        total += 2 * shape[0] * shape[-1] * n
    return total


def describe(calls: list[tuple], seconds: float) -> str:
    """``"N GEMMs, X GFLOP at R TFLOP/s"`` of a replay of ``calls`` that took ``seconds``."""
    total = flops(calls)
    return f"{len(calls)} GEMMs, {total / 1e9:.1f} GFLOP at {total / seconds / 1e12:.3f} TFLOP/s"


def replay(calls: list[tuple]) -> Callable[[], None]:
    """A call running the recorded GEMMs again, in order, on stand-in inputs (one per shape)."""
    inputs = {(s, dt): torch.randn(s).to(dt) for _, _, s, dt, _, _ in calls}

    def run() -> None:
        with torch.inference_mode():
            for func, i, shape, dtype, args, kwargs in calls:
                func(*args[:i], inputs[shape, dtype], *args[i + 1:], **kwargs)

    return run


def main() -> None:
    import timing
    from encode_vs_st import load_stsb

    from workbench.models.bi_encoder import BiEncoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts, _ = load_stsb()
    enc = BiEncoder.from_pretrained(args.model)

    def encode() -> None:
        enc.encode(texts, batch_size=64, precision=args.precision, show_progress=False)

    encode()
    calls = record(encode)
    timing.CLOCK["which"] = "cpu"
    med = timing.medians(timing.interleaved({"encode": encode, "GEMMs alone": replay(calls)},
                                            args.repeats, verbose=False))
    print(f"{args.model} {args.precision}: encode {med['encode']:.3f} s CPU, its GEMMs alone "
          f"{med['GEMMs alone']:.3f} s ({100 * med['GEMMs alone'] / med['encode']:.1f}%; "
          f"{describe(calls, med['GEMMs alone'])})")

if __name__ == "__main__":
    main()
