"""Word-embedding gradients as the rows a batch used, written into one persistent dense buffer.

The word-embedding table is half of a small encoder's parameters (all-MiniLM-L6-v2: 30,522 x
384 of 22.7M). Its dense gradient, ``embedding_dense_backward``, allocates and zeroes a fresh
47 MB tensor every step; on the CPU glibc serves blocks over its mmap threshold (32 MB at most)
from new pages, so each step also page-faults the whole table in: 17.6 ms of a ~150 ms MiniLM
2D Matryoshka step on one thread. Here the forward asks for a sparse gradient (the batch's rows,
``F.embedding(..., sparse=True)``) and :class:`DenseGradients` adds those rows into a dense
buffer kept across steps, zeroing only the rows the previous step wrote (0.36 ms). The optimizer,
clipping and checkpoints see the same dense gradient as before: the sum over a token's
occurrences is the same sum, only its order may differ in the last bit.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_SPARSE = contextvars.ContextVar("sparse_word_gradients", default=False)


@contextlib.contextmanager
def sparse_word_gradients(enabled: bool = True) -> Iterator[None]:
    """Inside, :func:`word_rows` asks autograd for sparse word-embedding gradients."""
    token = _SPARSE.set(enabled)
    try:
        yield
    finally:
        _SPARSE.reset(token)


def word_rows(table: nn.Embedding, ids: Tensor) -> Tensor:
    """``table(ids)``; with a sparse gradient inside :func:`sparse_word_gradients` (training)."""
    if _SPARSE.get() and torch.is_grad_enabled() and table.weight.requires_grad:
        return F.embedding(ids, table.weight, table.padding_idx, table.max_norm, table.norm_type,
                           table.scale_grad_by_freq, sparse=True)
    return table(ids)


class DenseGradients:
    """Turns the sparse gradients of parameters into dense ones, in buffers kept across steps."""

    def __init__(self) -> None:
        self._written: dict[int, tuple[Tensor, Tensor]] = {}  # id(p): (buffer, rows written)

    def densify(self, parameters: Iterable[nn.Parameter]) -> None:
        """Replace every sparse ``.grad`` by its dense equal: the buffer with last step's rows
        zeroed and this step's (coalesced) rows written."""
        for p in parameters:
            grad, written = p.grad, self._written.get(id(p))
            if grad is None or not grad.is_sparse:
                if written is not None and grad is written[0]:  # accumulated into: every row
                    del self._written[id(p)]  # may be dirty now, start afresh
                continue
            grad = grad.coalesce()
            if written is None:
                buffer = torch.zeros(p.shape, dtype=grad.dtype, device=p.device)
            else:
                buffer = written[0].index_fill_(0, written[1], 0.0)
            rows = grad.indices()[0]
            buffer.index_copy_(0, rows, grad.values())
            self._written[id(p)] = (buffer, rows)
            p.grad = buffer

    def norm_parts(self, parameters: Iterable[nn.Parameter]) -> list[Tensor]:
        """Every gradient, for a total norm: a densified one as only the rows this step wrote
        (the others are zero), so the norm does not read the whole table; a sparse one (left
        sparse for :mod:`workbench.fast.row_adamw`) as its values, the same rows."""
        parts = []
        for p in parameters:
            if p.grad is None:
                continue
            written = self._written.get(id(p))
            if p.grad.is_sparse:
                parts.append(p.grad.coalesce().values())
            elif written is not None and p.grad is written[0]:
                parts.append(p.grad.index_select(0, written[1]))
            else:
                parts.append(p.grad)
        return parts
