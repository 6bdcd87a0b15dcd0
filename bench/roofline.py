"""The roofline the benchmarks compare against: the measured matmul rate and a model's useful FLOPs.

Model FLOPs count the useful work from actual token counts (no padding): per text of L tokens
and per layer, 2 x (matmul parameters) x L + 4 x L^2 x H for the attention scores and the
weighted sum; training counts 3x the forward (forward + backward).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from timing import Clock, seconds

MATMUL_N = {"cpu": 2048, "cuda": 8192}
MATMUL_CALLS = {"cpu": 4, "cuda": 20}


def matmul_call(dtype: torch.dtype, device: str = "cpu") -> Callable[[], None]:
    """MATMUL_CALLS square matmuls of size MATMUL_N (2 N^3 FLOPs each), synchronised."""
    n = MATMUL_N[device]
    a, b = (torch.randn(n, n, dtype=dtype, device=device) for _ in range(2))

    def run() -> None:
        for _ in range(MATMUL_CALLS[device]):
            torch.matmul(a, b)
        if device == "cuda":
            torch.cuda.synchronize()

    return run


def matmul_tflops(seconds: float, device: str = "cpu") -> float:
    """TFLOP/s of one :func:`matmul_call` that took ``seconds``."""
    return 2 * MATMUL_N[device] ** 3 * MATMUL_CALLS[device] / seconds / 1e12


def bf16_matmul_tflops(device: str) -> float:
    """Rate of the square bf16 matmuls on ``device``, after one warm-up call (seconds as
    ``timing.CLOCK`` says, like the work it is compared with)."""
    kind = torch.device(device).type
    run = matmul_call(torch.bfloat16, kind)
    run()
    with Clock(device) as clock:
        run()
    return matmul_tflops(seconds(clock), kind)


def model_flops(lengths: Sequence[int], config) -> float:
    """Useful FLOPs of one encoder pass over texts of these token lengths (no padding)."""
    h = getattr(config, "hidden_size", None) or config.dim
    inter = getattr(config, "intermediate_size", None) or config.hidden_dim
    layers = getattr(config, "num_hidden_layers", None) or config.n_layers
    matmul_params = 4 * h * h + 2 * h * inter  # Q, K, V, attention output; FFN up and down
    return float(layers * sum(2 * matmul_params * n + 4 * n * n * h for n in lengths))
