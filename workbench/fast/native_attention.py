"""Padding-free attention by the native kernel (``kernels/attention.cpp``) on the CPU.

For every sequence and head, ``softmax(scale * q k^T + bias) v`` read straight from the fused
query/key/value rows and written in the ``(tokens, width)`` layout the output map takes: no
head-major copies of q, k, v or the output, no per-run Python loop, scores and softmax in fp32.
On STS-B's short sentences torch's equivalent (batched 14 x 32 matmuls, an fp32 softmax, the
copies around them) was about 15% of a bf16 encode. :func:`attend` returns ``None`` where the
kernel does not apply (not the CPU, another dtype, no build), and the caller keeps its torch path.

Training (:func:`attend_train`, no bias): the same forward with dropout on the probabilities,
then a backward kernel that recomputes them from each query's softmax max and 1 / sum and writes
the gradient of the fused rows directly. The dropout mask is never stored: the kernel hashes
(seed, query token, head, key) into 16 bits and drops below ``k = round(p * 65536)``, so
P(drop) = k / 65536 and kept probabilities scale by 65536 / (65536 - k), as
:mod:`workbench.fast.dropout`; the seed is one draw from torch's default generator per call
(``torch.manual_seed`` reproduces it). It replaces the padded buckets' copies, batched matmuls,
fp32 softmax and dropout. Forward and backward of one all-MiniLM-L6-v2 layer, bf16, one thread:
16 long STS-B pairs (852 tokens) 4.8 ms in torch, 2.0 ms here; 16 short ones (334 tokens) 2.7
against 0.66 ms (issue 17, seventh session; the eighth cut the kernel's own time by a further
19-42% on short sequences, docs/results.md).
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from workbench.fast import native
from workbench.fast.dropout import LANES, dropped

DTYPES = {torch.float32: 0, torch.bfloat16: 1}
_SIGNATURE = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
              ctypes.c_int64, ctypes.c_int, ctypes.c_int, ctypes.c_float, ctypes.c_void_p,
              ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]


_TRAIN = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
          ctypes.c_int64, ctypes.c_int, ctypes.c_int, ctypes.c_float, ctypes.c_void_p,
          ctypes.c_int64, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_float,
          ctypes.c_int]
_BACKWARD = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
             ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_int,
             ctypes.c_float, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_float,
             ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]


def kernel():
    """The loaded ``wb_attention`` function, or ``None`` (native kernels off or not built)."""
    return native.function("attention", "wb_attention", _SIGNATURE)


def _usable(fused: Tensor, lengths: Tensor) -> bool:
    return (fused.device.type == "cpu" and fused.dtype in DTYPES and fused.stride(1) == 1
            and len(lengths) > 0)


def _spans(fused: Tensor, starts: Tensor, lengths: Tensor,
           bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``starts`` and ``lengths`` as contiguous int64; ValueError for a span outside the rows."""
    starts, lengths = starts.to(torch.int64).contiguous(), lengths.to(torch.int64).contiguous()
    longest = int(lengths.max())
    if int((starts + lengths).max()) > fused.shape[0] or int(starts.min()) < 0 or (
            bias is not None and longest > min(bias.shape[-2:])):
        raise ValueError(f"attention spans outside the rows: {fused.shape[0]} token rows, "
                         f"sequences ending at up to {int((starts + lengths).max())}, longest "
                         f"{longest}, bias {None if bias is None else tuple(bias.shape)}")
    return starts, lengths


def attend(fused: Tensor, starts: Tensor, lengths: Tensor, heads: int, scale: float,
           bias: Tensor | None = None) -> Tensor | None:
    """Attention of the sequences ``[starts[i], starts[i] + lengths[i])`` of the ``(tokens,
    3 * width)`` fused q/k/v rows, as ``(tokens, width)``; ``bias``: additive ``(1, heads, n,
    n)`` scores, its top-left ``L x L`` used for a sequence of ``L`` tokens (MPNet's). ``None``
    where the kernel does not apply."""
    function = kernel() if _usable(fused, lengths) else None
    if function is None:
        return None
    width = fused.shape[1] // 3
    starts, lengths = _spans(fused, starts, lengths, bias)
    out = fused.new_empty(fused.shape[0], width)
    if bias is not None:
        bias = _transposed(bias.reshape(heads, bias.shape[-2], bias.shape[-1]))
    status = function(
        fused.data_ptr(), DTYPES[fused.dtype], fused.stride(0), starts.data_ptr(),
        lengths.data_ptr(), len(lengths), heads, width // heads, scale,
        None if bias is None else bias.data_ptr(), 0 if bias is None else bias.stride(0),
        0 if bias is None else bias.stride(1), out.data_ptr(), out.stride(0),
        torch.get_num_threads())
    _status(status, "inference")
    return out


def _transposed(bias: Tensor) -> Tensor:
    """``(heads, n, n)`` scores as fp32 ``[head][key][query]``, queries padded to 16 (the
    kernel reads 16 queries a vector)."""
    n = bias.shape[-1]
    out = bias.new_zeros(bias.shape[0], n, -(-n // 16) * 16, dtype=torch.float32)
    out[..., :n] = bias.transpose(-1, -2)
    return out


def attend_train(fused: Tensor, starts: Tensor, lengths: Tensor, heads: int, scale: float,
                 p: float) -> Tensor | None:
    """:func:`attend` without a bias, with dropout ``p`` on the probabilities and a backward
    (autograd); ``None`` where the kernels do not apply (or ``p == 1``)."""
    if not _usable(fused, lengths) or p >= 1.0:
        return None
    forward = native.function("attention", "wb_attention_train", _TRAIN)
    backward = native.function("attention", "wb_attention_backward", _BACKWARD)
    if forward is None or backward is None:
        return None
    starts, lengths = _spans(fused, starts, lengths)
    k = dropped(p) if p > 0 else 0
    seed = int(torch.randint(0, 2**32, (1,), dtype=torch.int64)) if k > 0 else 0
    return _TrainAttention.apply(fused, starts, lengths, (forward, backward), heads, scale, k,
                                 seed)


def _status(status: int, what: str) -> None:
    if status != 0:
        raise RuntimeError(f"native attention {what} failed with status {status}")


class _TrainAttention(torch.autograd.Function):
    """The kernels' forward (probabilities' statistics kept) and backward (d of the fused rows)."""

    @staticmethod
    def forward(ctx, fused: Tensor, starts: Tensor, lengths: Tensor, kernels: tuple,
                heads: int, scale: float, k: int, seed: int) -> Tensor:  # noqa: D102
        width = fused.shape[1] // 3
        out = fused.new_empty(fused.shape[0], width)
        stats = torch.empty(fused.shape[0], heads, 2, dtype=torch.float32)
        status = kernels[0](
            fused.data_ptr(), DTYPES[fused.dtype], fused.stride(0), starts.data_ptr(),
            lengths.data_ptr(), len(lengths), heads, width // heads, scale, out.data_ptr(),
            out.stride(0), stats.data_ptr(), seed, k, LANES / (LANES - k), torch.get_num_threads())
        _status(status, "training forward")
        ctx.save_for_backward(fused, starts, lengths, stats)
        ctx.settings = (kernels[1], heads, scale, k, seed)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # noqa: D102
        fused, starts, lengths, stats = ctx.saved_tensors
        backward, heads, scale, k, seed = ctx.settings
        grad = grad.to(fused.dtype)
        if grad.stride(1) != 1:
            grad = grad.contiguous()
        dfused = torch.empty(fused.shape, dtype=fused.dtype)
        width = fused.shape[1] // 3
        status = backward(
            fused.data_ptr(), DTYPES[fused.dtype], fused.stride(0), grad.data_ptr(),
            grad.stride(0), starts.data_ptr(), lengths.data_ptr(), len(lengths), heads,
            width // heads, scale, stats.data_ptr(), seed, k, LANES / (LANES - k),
            dfused.data_ptr(), dfused.stride(0), torch.get_num_threads())
        _status(status, "backward")
        return dfused, None, None, None, None, None, None, None
