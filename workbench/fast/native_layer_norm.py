"""``layer_norm(x + residual)`` by the native kernel (``kernels/layer_norm.cpp``), CPU inference.

One pass over memory instead of torch's two (the add, then the LayerNorm), the sum kept in fp32
(not rounded to bf16 before normalising). :func:`add_layer_norm` returns ``None`` where the
kernel does not apply (not the CPU, another dtype, mixed dtypes, no build, autograd needed) and
the caller keeps torch's ops.
"""

from __future__ import annotations

import ctypes

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.fast import native

DTYPES = {torch.float32: 0, torch.bfloat16: 1}
_SIGNATURE = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_float,
              ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_int, ctypes.c_int]


def kernel():
    """The loaded ``wb_add_layer_norm`` function, or ``None`` (native kernels off or not built)."""
    return native.function("layer_norm", "wb_add_layer_norm", _SIGNATURE)


def add_layer_norm(x: Tensor, residual: Tensor, weight: Tensor, bias: Tensor,
                   eps: float) -> Tensor | None:
    """``F.layer_norm(x + residual, (H,), weight, bias, eps)`` of ``(rows, H)`` tensors, or
    ``None`` where the kernel does not apply."""
    tensors = (x, residual, weight, bias)
    usable = (not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
              and x.device.type == "cpu" and x.dtype in DTYPES and x.dim() == 2
              and all(t.dtype == x.dtype and t.device == x.device and t.is_contiguous()
                      for t in tensors)
              and residual.shape == x.shape and weight.shape == bias.shape == x.shape[1:])
    function = kernel() if usable else None
    if function is None:
        return None
    out = torch.empty_like(x)
    status = function(x.data_ptr(), residual.data_ptr(), weight.data_ptr(), bias.data_ptr(), eps,
                      out.data_ptr(), x.shape[0], x.shape[1], DTYPES[x.dtype],
                      torch.get_num_threads())
    if status != 0:
        raise RuntimeError(f"native add + LayerNorm failed with status {status}")
    return out


def add_norm(x: Tensor, residual: Tensor, norm: tuple[Tensor, Tensor, float]) -> Tensor:
    """``layer_norm(x + residual)``: one native pass where it applies, else torch's two ops."""
    fused = add_layer_norm(x, residual, *norm)
    return fused if fused is not None else F.layer_norm(x + residual, x.shape[-1:], *norm)
