"""Padding-free attention by the native kernel (``kernels/attention.cpp``), CPU inference.

For every sequence and head, ``softmax(scale * q k^T + bias) v`` read straight from the fused
query/key/value rows and written in the ``(tokens, width)`` layout the output map takes: no
head-major copies of q, k, v or the output, no per-run Python loop, scores and softmax in fp32.
On STS-B's short sentences torch's equivalent (batched 14 x 32 matmuls, an fp32 softmax, the
copies around them) was about 15% of a bf16 encode. :func:`attend` returns ``None`` where the
kernel does not apply (not the CPU, another dtype, no build), and the caller keeps its torch path.
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from workbench.fast import native

DTYPES = {torch.float32: 0, torch.bfloat16: 1}
_SIGNATURE = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
              ctypes.c_int64, ctypes.c_int, ctypes.c_int, ctypes.c_float, ctypes.c_void_p,
              ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]


def kernel():
    """The loaded ``wb_attention`` function, or ``None`` (native kernels off or not built)."""
    return native.function("attention", "wb_attention", _SIGNATURE)


def attend(fused: Tensor, starts: Tensor, lengths: Tensor, heads: int, scale: float,
           bias: Tensor | None = None) -> Tensor | None:
    """Attention of the sequences ``[starts[i], starts[i] + lengths[i])`` of the ``(tokens,
    3 * width)`` fused q/k/v rows, as ``(tokens, width)``; ``bias``: additive ``(1, heads, n,
    n)`` scores, its top-left ``L x L`` used for a sequence of ``L`` tokens (MPNet's). ``None``
    where the kernel does not apply."""
    function = kernel() if fused.device.type == "cpu" and fused.dtype in DTYPES else None
    if function is None or fused.stride(1) != 1 or len(lengths) == 0:
        return None
    width = fused.shape[1] // 3
    starts, lengths = starts.to(torch.int64).contiguous(), lengths.to(torch.int64).contiguous()
    longest = int(lengths.max())
    if int((starts + lengths).max()) > fused.shape[0] or int(starts.min()) < 0 or (
            bias is not None and longest > min(bias.shape[-2:])):
        raise ValueError(f"attention spans outside the rows: {fused.shape[0]} token rows, "
                         f"sequences ending at up to {int((starts + lengths).max())}, longest "
                         f"{longest}, bias {None if bias is None else tuple(bias.shape)}")
    out = fused.new_empty(fused.shape[0], width)
    if bias is not None:
        bias = _transposed(bias.reshape(heads, bias.shape[-2], bias.shape[-1]))
    status = function(
        fused.data_ptr(), DTYPES[fused.dtype], fused.stride(0), starts.data_ptr(),
        lengths.data_ptr(), len(lengths), heads, width // heads, scale,
        None if bias is None else bias.data_ptr(), 0 if bias is None else bias.stride(0),
        0 if bias is None else bias.stride(1), out.data_ptr(), out.stride(0),
        torch.get_num_threads())
    if status != 0:
        raise RuntimeError(f"native attention failed with status {status}")
    return out


def _transposed(bias: Tensor) -> Tensor:
    """``(heads, n, n)`` scores as fp32 ``[head][key][query]``, queries padded to 16 (the
    kernel reads 16 queries a vector)."""
    n = bias.shape[-1]
    out = bias.new_zeros(bias.shape[0], n, -(-n // 16) * 16, dtype=torch.float32)
    out[..., :n] = bias.transpose(-1, -2)
    return out
