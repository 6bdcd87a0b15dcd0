"""Linear layers of CPU inference through oneDNN, in fp32 and bf16, with GELU fused into the GEMM.

``F.linear`` in fp32 goes to MKL's sgemm, which on this AMD CPU runs about half as fast as
oneDNN's AVX-512 fp32 GEMM on the encoder's shapes (e.g. (2048 x 384) @ (384 x 1536): 21.7 ms
against 9.8 ms of one thread's CPU time, max |diff| 4e-6); in bf16 oneDNN adds the bias inside
the GEMM instead of broadcasting it first. ``torch.ops.mkldnn._linear_pointwise`` also applies an
exact (erf) or tanh GELU as a post-op, which saves a pass over the feed-forward's widest
activations. Each kind is checked once against ``F.linear`` (:func:`works`) and falls back to it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Linear = Callable[[Tensor, Tensor, Tensor | None], Tensor]


def _probe(dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    """A small fixed product's input, weight and bias in ``dtype`` (the checks' inputs)."""
    x = torch.linspace(-2, 2, 24).view(4, 6).to(dtype)
    return x, torch.linspace(-1, 1, 30).view(5, 6).to(dtype), torch.linspace(-1, 1, 5).to(dtype)


@functools.cache
def works(dtype: torch.dtype, gelu: str | None = None) -> bool:
    """Whether this torch build has oneDNN's linear (with a GELU post-op of approximation
    ``gelu``, ``"none"`` (erf) or ``"tanh"``, if given) and it matches ``F.linear`` (then
    ``F.gelu``) on a small fixed product in ``dtype`` (autocast off: the first caller may run
    under it, e.g. ``CrossEncoder.predict`` in bf16)."""
    if not torch.backends.mkldnn.is_available():
        return False
    x, w, b = _probe(dtype)
    with torch.autocast("cpu", enabled=False):
        ref = F.linear(x.float(), w.float(), b.float())
        if gelu is not None:
            ref = F.gelu(ref, approximate=gelu)
        try:
            out = linear(x, w, b) if gelu is None else _gelu(x, w, b, gelu)
        except (RuntimeError, AttributeError):
            return False
    tol = 1e-5 if dtype == torch.float32 else 3e-2
    return bool(torch.allclose(out.float(), ref, atol=tol, rtol=tol))


PACK_ROWS = 2048
"""Token rows oneDNN is told to expect when it packs a weight (an encode batch: 64 texts x 32);
a packed weight gives the same products at any row count."""


PACKED_DTYPES = (torch.float32,)
"""Dtypes whose weights are packed. Not bf16: on the AMX Xeon a packed bf16 weight made the
MiniLM encode 0.71x as fast (2.23 -> 3.13 s, 4 interleaved rounds; fp32 1.14x faster), its
layout depending on the row count, so a batch of another size pays a second reorder."""


@functools.cache
def packs(dtype: torch.dtype) -> bool:
    """Whether ``dtype`` weights are packed once into oneDNN's own layout (:func:`pack`):
    a ``PACKED_DTYPES`` member whose packed weights give exactly the plain weights' products
    (linear, and each GELU post-op that :func:`works`)."""
    if dtype not in PACKED_DTYPES or not works(dtype):
        return False
    x, w, b = _probe(dtype)
    try:
        packed = pack(w, len(x))
        same = torch.equal(linear(x, packed, b), linear(x, w, b))
        for gelu in ("none", "tanh"):
            if works(dtype, gelu):
                same &= torch.equal(_gelu(x, packed, b, gelu), _gelu(x, w, b, gelu))
    except (RuntimeError, AttributeError):
        return False
    return bool(same)


def pack(weight: Tensor, rows: int = PACK_ROWS) -> Tensor:
    """``weight`` reordered once into the blocked layout oneDNN's fp32 GEMM reads, instead of at
    every call (a plain weight is reordered each time: 5-9% of an fp32 MiniLM GEMM on the AMX
    Xeon, 300-4,000 rows; same products). An opaque tensor: only :func:`linear` takes it."""
    return torch.ops.mkldnn._reorder_linear_weight(weight, rows)


def _gelu(x: Tensor, weight: Tensor, bias: Tensor | None, kind: str) -> Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "gelu", [], kind)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``F.linear`` through oneDNN (bias inside the GEMM)."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


def gelu_kind(act: Callable) -> str | None:
    """``"none"`` (exact, erf) or ``"tanh"`` for a GELU that oneDNN reproduces, else ``None``."""
    inner = getattr(act, "act", None)  # transformers' GELUActivation (C gelu unless python)
    if act is F.gelu or (type(act).__name__ == "GELUActivation" and inner is F.gelu):
        return "none"
    if isinstance(act, nn.GELU):
        return act.approximate
    return None


def linear_for(dtype: torch.dtype, device: torch.device) -> Linear:
    """oneDNN's linear on the CPU where :func:`works`, else ``F.linear``."""
    return linear if device.type == "cpu" and works(dtype) else F.linear


def up_for(act: Callable, dtype: torch.dtype, device: torch.device) -> Linear:
    """``act(linear(x, w, b))`` for the feed-forward's first map: one oneDNN call with the
    GELU as a post-op where it reproduces ``act``, else the two steps."""
    kind = gelu_kind(act)
    if device.type == "cpu" and kind is not None and works(dtype, kind):
        return functools.partial(_gelu, kind=kind)
    lin = linear_for(dtype, device)
    return lambda x, w, b: act(lin(x, w, b))
