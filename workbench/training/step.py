"""One optimizer step: accumulate gradients over a chunk of batches, check, clip, step."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch

from workbench.fast.row_adamw import claim_or_densify
from workbench.fast.sparse_grads import sparse_word_gradients
from workbench.losses.base import NonFiniteError
from workbench.training import clipping
from workbench.training.batches import collate
from workbench.training.health import check_finite_loss, loss_parts


def forward_precision(run: Any) -> contextlib.AbstractContextManager:
    """The encoder's own mixed precision for this block (``TrainConfig.precision``): its forward
    autocasts and returns fp32, so the loss math stays in fp32 (as the Hugging Face Trainer)."""
    scope = getattr(run.model, "mixed_precision", None)
    if scope is None:
        return contextlib.nullcontext()
    return scope(run.config.precision)


def _forward(run: Any, features: list[dict[str, torch.Tensor]],
             labels: torch.Tensor | None) -> torch.Tensor:
    """The loss in the encoder's precision; NaN/inf embeddings or labels give a NaN value, which
    ``_check`` turns into ``NonFiniteLossError`` with the rows that caused it."""
    try:
        with forward_precision(run):
            return run.module(features, labels)
    except NonFiniteError:
        return torch.tensor(float("nan"))


def _check(run: Any, value: float, idx: list[int], features: list[dict[str, torch.Tensor]]) -> None:
    """Every rank sees every rank's loss (one all-gather of a scalar) before any backward, so a
    NaN on one rank stops all of them at the same micro-batch with the same message."""
    acc = run.accelerator
    values = [value]
    if acc.num_processes > 1:
        values = acc.gather(torch.tensor([value], dtype=torch.float64)).tolist()
    bad = next((r for r, v in enumerate(values) if not math.isfinite(v)), None)
    if bad is None:
        return
    mine = bad == acc.process_index
    texts = run.data.rows(idx) if mine else {}
    parts = loss_parts(acc.unwrap_model(run.module), features) if mine else {}
    check_finite_loss(values[bad], run.state.step + 1, texts, parts, run.config.output_dir,
                      rank=bad, world=acc.num_processes)


def _clip(run: Any) -> None:
    """Clip the gradients' total norm to ``max_grad_norm``: in one CPU process inside fused
    AdamW's step (:mod:`workbench.training.clipping`), elsewhere through accelerate."""
    max_norm = run.config.max_grad_norm
    if not max_norm or max_norm <= 0:
        return
    params = [p for p in run.module.parameters() if p.grad is not None]
    if run.dense_grads is None or clipping.clip_in_optimizer(
            run.optimizer, params, max_norm, run.dense_grads) is None:
        run.accelerator.clip_grad_norm_(params, max_norm)


def train_step(run: Any, chunk: list[list[int]]) -> float:
    """Forward/backward every batch of ``chunk`` (loss / n), then clip, AdamW, schedule.

    With ``run.dense_grads`` (one CPU process) the word embeddings' gradients arrive as the rows
    the batches used. ``run.row_adamw`` applies them to the rows ever used, with fused AdamW's
    arithmetic (:mod:`workbench.fast.row_adamw`); where it cannot, they are written into a
    persistent dense buffer before clipping (:mod:`workbench.fast.sparse_grads`) for fused AdamW.
    Either way the update is the same, and clipping is folded into the optimizer's step
    (:mod:`workbench.training.clipping`).

    Returns the mean loss of the chunk. Raises ``NonFiniteLossError`` (on every rank) before
    any weight changes.
    """
    acc, module, n = run.accelerator, run.module, len(chunk)
    module.train()
    total = 0.0
    for i, idx in enumerate(chunk):
        features, labels = collate(run.model, run.data, idx)
        last = i == n - 1
        sync = contextlib.nullcontext() if last or acc.num_processes == 1 else acc.no_sync(module)
        with sync, sparse_word_gradients(run.dense_grads is not None):
            value = _forward(run, features, labels)
            scalar = float(value.detach().float())
            _check(run, scalar, idx, features)
            acc.backward(value / n)
        total += scalar / n
    rows = run.row_adamw
    if run.dense_grads is not None:
        claim_or_densify(rows, run.dense_grads, module.parameters())
    _clip(run)
    with rows.stepping() if rows is not None else contextlib.nullcontext():
        run.optimizer.step()
    clipping.release(run.optimizer)
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    return total
