"""Gradient-norm clipping folded into fused AdamW's gradient scale: one pass over the gradients less.

``clip_grad_norm_`` reads every gradient for the total norm ``n``, then multiplies every gradient
by ``c = min(1, max_norm / (n + 1e-6))``: a second read and a write of all of them. Fused AdamW
reads every gradient anyway and divides it by its ``grad_scale`` when one is set (the hook AMP's
``GradScaler`` uses), so ``grad_scale = 1 / c`` gives the same update without the multiply (each
gradient divided by ``1 / c`` instead of multiplied by ``c``: equal up to its last bit). With
:class:`~workbench.fast.sparse_grads.DenseGradients` the word-embedding gradient's norm is read
off the rows the step wrote (every other row is zero). Used by the trainer in one CPU process.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from workbench.fast.sparse_grads import DenseGradients


def fused_adamw(optimizer: object) -> torch.optim.AdamW | None:
    """The fused AdamW inside ``optimizer`` (accelerate wraps it), else ``None``."""
    inner = getattr(optimizer, "optimizer", optimizer)
    fused = isinstance(inner, torch.optim.AdamW) and inner.defaults.get("fused")
    return inner if fused else None


def clip_in_optimizer(optimizer: object, parameters: Sequence[nn.Parameter], max_norm: float,
                      dense: DenseGradients | None = None) -> torch.Tensor | None:
    """Arrange for the next ``optimizer.step()`` to clip the gradients to total norm
    ``max_norm``; returns the norm before clipping, or ``None`` (nothing arranged) when the
    optimizer is not a fused AdamW. Call :func:`release` after the step."""
    adamw = fused_adamw(optimizer)
    if adamw is None:
        return None
    grads = (dense.norm_parts(parameters) if dense is not None
             else [p.grad for p in parameters if p.grad is not None])
    norm = torch.nn.utils.get_total_norm(grads, 2.0)
    adamw.grad_scale = torch.clamp(max_norm / (norm + 1e-6), max=1.0).reciprocal()
    return norm


def release(optimizer: object) -> None:
    """Drop the scale :func:`clip_in_optimizer` set, so later steps do not reuse it."""
    adamw = fused_adamw(optimizer)
    if adamw is not None:
        adamw.grad_scale = None
