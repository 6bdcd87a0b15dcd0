"""Dropout on the CPU from 16-bit random lanes: the same Bernoulli mask at half the cost.

``F.dropout`` on the CPU fills its mask with ``bernoulli_``, which calls MKL's vectorised
generator only on Intel processors (ATen checks the vendor) and elsewhere draws one mt19937
number per element: 4.4 ns an element on this AMD EPYC, 17 ms of a MiniLM 2D Matryoshka step.
Here one full-range ``int64`` draw (``random_(-2**63, None)``: all 64 bits uniform) serves four
elements, one 16-bit lane each, so the generator runs a quarter as often; an element is dropped
when its lane is among the lowest ``k = round(p * 65536)`` of the 65,536 values:

    P(drop) = k / 65536  (p = 0.1: 0.1000061),   y = x * keep * 65536 / (65536 - k)

so ``E[y] = x`` exactly. The scaled mask is built as integers (0 or the bit pattern of the scale)
and viewed as the input's dtype: a bool-to-bf16 conversion alone costs more than the draw.
Forward and backward multiply by that one mask (autograd saves it, as ``F.dropout`` does).
Forward + backward on 460 x 384 bf16: 0.44 ms against ``F.dropout``'s 0.92 ms.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

LANES = 65536
_INT = {2: torch.int16, 4: torch.int32, 8: torch.int64}


def dropped(p: float) -> int:
    """``k``: how many of the 65,536 lane values drop an element."""
    return round(p * LANES)


def lanes(shape: torch.Size | tuple[int, ...]) -> Tensor:
    """Uniform int16 values of ``shape``, four from each full-range int64 draw (default CPU
    generator, so ``torch.manual_seed`` makes them reproducible)."""
    n = math.prod(shape)
    draws = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-2**63, None)
    return draws.view(torch.int16)[:n].view(shape)


@functools.cache
def _scale_bits(k: int, dtype: torch.dtype) -> tuple[torch.dtype, int]:
    """The integer dtype as wide as ``dtype``, and the bit pattern of ``65536 / (65536 - k)`` in
    ``dtype`` (once per probability and dtype, not once per call)."""
    scale = torch.tensor(LANES / (LANES - k), dtype=dtype)
    wide = _INT[scale.element_size()]
    return wide, scale.view(wide).item()


def scaled_mask(shape: torch.Size | tuple[int, ...], p: float, dtype: torch.dtype) -> Tensor:
    """``keep * 65536 / (65536 - k)`` in ``dtype``: 0 where dropped, the scale elsewhere."""
    k = dropped(p)
    wide, bits = _scale_bits(k, dtype)
    keep = lanes(shape).ge(k - LANES // 2)  # int16 lanes run -32768..32767
    return keep.to(wide).mul_(bits).view(dtype)


class _LaneDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, p: float) -> Tensor:  # noqa: D102
        mask = scaled_mask(x.shape, p, x.dtype)
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # noqa: D102
        (mask,) = ctx.saved_tensors
        return grad * mask, None


def dropout(x: Tensor, p: float) -> Tensor:
    """Training-mode dropout of ``x`` with probability ``p``: lane dropout for floating CPU
    tensors (see the module docstring), ``F.dropout`` elsewhere; ``x`` itself when ``p == 0``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if p == 0.0:
        return x
    if p == 1.0 or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.bfloat16,
                                                              torch.float16, torch.float64):
        return F.dropout(x, p, training=True)
    return _LaneDropout.apply(x, p)
