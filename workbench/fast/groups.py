"""CPU inference blocks: native attention and residual + LayerNorm where built, else torch ops,
with attention in groups of sequences of one length: no padding, no masks, no scatter.

Where the native kernels are built (:mod:`workbench.fast.native`), attention reads every
(sequence, head) straight from the fused q/k/v rows (:mod:`native_attention`) and each residual
sum is normalised in one pass (:mod:`native_layer_norm`). Otherwise:

Encoding packs texts longest-first (:func:`workbench.fast.bf16_inference.token_batches`), so a
batch's sequences arrive sorted by length and runs of equal length are common (STS-B test: 2,758
texts of about 50 distinct lengths). A run of ``n`` sequences of ``L`` tokens is, in the
padding-free ``(tokens, hidden)`` rows, already the contiguous ``(n, L, hidden)`` block attention
needs: the fused query/key/value rows are viewed, not gathered, attention runs without a key
mask (every key is real), and the outputs are concatenated back in row order. On the CPU that
removes the masked kernel's cost (about 30% of the attention time for 14-token rows) and the
gather/scatter of the length buckets (:mod:`workbench.fast.unpadded`, kept for training, where
batches are drawn at random). Per-token ops and values are those of :mod:`unpadded`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.fast import native_attention
from workbench.fast.native_layer_norm import add_norm
from workbench.fast.registry import BlockWeights

Linear = Callable[[Tensor, Tensor, Tensor | None], Tensor]
MATH_MAX_LENGTH = {torch.bfloat16: 32, torch.float32: 32}
"""Runs up to this length attend by two batched matmuls and an fp32 :func:`softmax` instead of
the CPU flash kernel, whose per-(sequence, head) set-up dominates short rows (one thread, 12
heads of 32: bf16 at 16 tokens about 2x faster, fp32 at 20-24 tokens about 1.3x; from about 40
tokens on the kernel wins). See docs/results.md (issue 17)."""

@dataclass
class Groups:
    """A right-padded batch whose sequences are sorted by length, longest first.

    ``keep`` indexes the real tokens in the flat ``(batch * longest)`` layout (rows ordered by
    sequence); ``sizes`` holds each run of equal length as ``(sequences, length)``, in row order;
    ``starts`` and ``lengths`` are each sequence's first row and token count (for pooling).
    """

    keep: Tensor
    sizes: list[tuple[int, int]]
    starts: Tensor
    lengths: Tensor


def sort_order(features: dict[str, Tensor]) -> Tensor | None:
    """The permutation sorting a batch by length, longest first (``None``: already sorted)."""
    lengths = (features["attention_mask"] != 0).sum(1)
    if bool((lengths[:-1] >= lengths[1:]).all()):
        return None
    return lengths.argsort(descending=True, stable=True)


def groups(features: dict[str, Tensor]) -> Groups:
    """The :class:`Groups` of a right-padded batch sorted longest first (:func:`sort_order`)."""
    mask = features["attention_mask"]
    lengths = (mask != 0).sum(1)
    values, counts = torch.unique_consecutive(lengths, return_counts=True)
    sizes = list(zip(counts.tolist(), values.tolist(), strict=True))
    return Groups(mask.reshape(-1).nonzero().squeeze(1), sizes, lengths.cumsum(0) - lengths,
                  lengths)


def attention(w: BlockWeights, hidden: Tensor, plan: Groups, linear: Linear,
              bias: Tensor | None = None) -> Tensor:
    """Multi-head attention of every run of equal length (``bias``: an additive
    ``(1, heads, longest, longest)`` score bias such as MPNet's, sliced per run)."""
    weight, b = w.qkv
    width = weight.shape[0] // 3
    fused = linear(hidden, weight, b)
    native = native_attention.attend(fused, plan.starts, plan.lengths, w.heads, w.scaling, bias)
    if native is not None:
        return native
    chunks = fused.split([n * length for n, length in plan.sizes])
    outs = []
    for (n, length), chunk in zip(plan.sizes, chunks, strict=True):
        q, k, v = chunk.view(n, length, 3, w.heads, width // w.heads).permute(2, 0, 3, 1, 4)
        mask = None if bias is None else bias[..., :length, :length]
        if length <= MATH_MAX_LENGTH.get(q.dtype, 0):
            out = _math_attention(q, k, v, mask, w.scaling)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=w.scaling)
        outs.append(out.transpose(1, 2).reshape(n * length, width))
    return outs[0] if len(outs) == 1 else torch.cat(outs)


def _math_attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None, scale: float) -> Tensor:
    """``softmax(q k^T * scale + bias) v`` with the softmax in fp32 (no key mask: all real)."""
    scores = torch.matmul(q, k.transpose(-1, -2)).float()
    if bias is not None:
        scores = scores.mul_(scale).add_(bias)
        scale = 1.0
    return torch.matmul(softmax(scores, scale).to(v.dtype), v)


def softmax(scores: Tensor, scale: float = 1.0) -> Tensor:
    """``softmax(scores * scale)`` over the last dim, in place for rows under 16 wide: torch's
    CPU kernel takes a slow path there (14-wide fp32 rows: about 5x the time of these four
    vectorised passes), so such rows go max, subtract and scale, exp, divide by the sum."""
    if scores.shape[-1] >= 16:
        return (scores.mul_(scale) if scale != 1.0 else scores).softmax(-1)
    scores = scores.sub_(scores.amax(-1, keepdim=True)).mul_(scale).exp_()
    return scores.div_(scores.sum(-1, keepdim=True))


def block(w: BlockWeights, hidden: Tensor, plan: Groups, linear: Linear, up: Linear,
          bias: Tensor | None = None) -> Tensor:
    """One post-LN block in inference (no dropout): attention, output map, residual +
    LayerNorm, then ``down(up(x))`` (``up`` applies the activation), residual + LayerNorm."""
    x = add_norm(linear(attention(w, hidden, plan, linear, bias), *w.out), hidden, w.norm1)
    return add_norm(linear(up(x, *w.up), *w.down), x, w.norm2)
