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


@functools.cache
def works(dtype: torch.dtype, act: str = "none") -> bool:
    """Whether this torch build has oneDNN's linear (with post-op ``act``) and it matches
    ``F.linear`` (then the activation) on a small fixed product in ``dtype``."""
    if not torch.backends.mkldnn.is_available():
        return False
    x = torch.linspace(-2, 2, 24).view(4, 6).to(dtype)
    w, b = torch.linspace(-1, 1, 30).view(5, 6).to(dtype), torch.linspace(-1, 1, 5).to(dtype)
    ref = F.linear(x.float(), w.float(), b.float())
    if act != "none":
        ref = F.gelu(ref, approximate=act)
    try:
        out = (torch.ops.mkldnn._linear_pointwise(x, w, b, "gelu", [], act) if act != "none"
               else torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], ""))
    except (RuntimeError, AttributeError):
        return False
    tol = 1e-5 if dtype == torch.float32 else 3e-2
    return bool(torch.allclose(out.float(), ref, atol=tol, rtol=tol))


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
        return lambda x, w, b: torch.ops.mkldnn._linear_pointwise(x, w, b, "gelu", [], kind)
    lin = linear_for(dtype, device)
    return lambda x, w, b: act(lin(x, w, b))
