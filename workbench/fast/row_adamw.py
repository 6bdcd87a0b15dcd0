"""Fused AdamW's step on the word-embedding rows that ever had a gradient: the same update, less memory.

Fused AdamW reads and writes every element of every parameter at each step. For
all-MiniLM-L6-v2's 30,522 x 384 word embeddings that is about 330 MB a step (parameter, gradient
and both moments read; parameter and moments written), 15-20 ms on one thread here: about 40%
of the optimizer's time. Yet one STS-B epoch uses 24% of the rows on average (35% by its end).

With weight decay 0, AdamW leaves a row exactly as it is when its gradient and both moments are
zero: ``m`` and ``v`` stay 0 and the parameter gains ``-0 / eps``. So :class:`RowAdamW` takes such
a table's sparse gradient (:mod:`workbench.fast.sparse_grads`) away from fused AdamW, and updates
only the rows that ever had a gradient, straight from the sparse rows (no dense gradient buffer).
The native kernel (``kernels/adamw_rows.cpp``) does torch's fused CPU arithmetic element by
element, so parameters and moments equal fused AdamW's bit for bit (tested). The optimizer state
stays torch's own (``step``, ``exp_avg``, ``exp_avg_sq``), so ``state_dict`` and checkpoints do
not change. After a load, the rows in use are read again from the moments.

A table is left to fused AdamW (densified as before) when its group has weight decay, AMSGrad or
``maximize``; when it is not a contiguous 2-D fp32 CPU tensor; when the optimizer has a
``found_inf`` (AMP); or when the kernel is off or could not be built (``WORKBENCH_NATIVE=0``).
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterable, Iterator

import torch
from torch import Tensor, nn

from workbench.fast import native
from workbench.fast.sparse_grads import DenseGradients

_SIGNATURE = [ctypes.c_void_p] * 6 + [ctypes.c_int64] * 4 + [ctypes.c_double] * 5 + [
    ctypes.c_float, ctypes.c_int]


def kernel():
    """The loaded ``wb_adamw_rows`` function, or ``None`` (native kernels off or not built)."""
    return native.function("adamw_rows", "wb_adamw_rows", _SIGNATURE)


class RowAdamW:
    """Steps the sparse-gradient parameters of a fused ``torch.optim.AdamW`` on their used rows.

    Per optimizer step: :meth:`claim` the parameters whose sparse gradients it will step (the
    caller densifies the others), then run ``optimizer.step()`` inside :meth:`stepping`.
    """

    def __init__(self, adamw: torch.optim.AdamW) -> None:
        self.adamw = adamw
        self._claimed: list[tuple[nn.Parameter, dict]] = []  # (parameter, its group)
        self._used: dict[int, tuple[Tensor, Tensor]] = {}  # id(p): (its exp_avg, rows in use)

    def claim(self, parameters: Iterable[nn.Parameter]) -> list[nn.Parameter]:
        """The parameters whose (now coalesced) sparse gradients this step will apply."""
        self._claimed = []
        for p in parameters:
            group = self._group_if_it_applies(p)
            if group is not None:
                p.grad = p.grad.coalesce()
                self._claimed.append((p, group))
            else:  # fused AdamW steps it this time: rows beyond those known may change
                self._used.pop(id(p), None)
        return [p for p, _ in self._claimed]

    @contextlib.contextmanager
    def stepping(self) -> Iterator[None]:
        """Around ``optimizer.step()``: the claimed gradients are hidden from fused AdamW, and
        their rows stepped after it (with the same ``grad_scale``, i.e. clipping)."""
        claimed, self._claimed = self._claimed, []
        grads = [p.grad for p, _ in claimed]
        for p, _ in claimed:
            p.grad = None
        try:
            yield
        finally:
            for (p, _), grad in zip(claimed, grads, strict=True):
                p.grad = grad
        for (p, group), grad in zip(claimed, grads, strict=True):
            self._step(p, group, grad)

    def _group_if_it_applies(self, p: nn.Parameter) -> dict | None:
        """``p``'s parameter group if the row step can stand in for fused AdamW's, else ``None``."""
        grad = p.grad
        if grad is None or not grad.is_sparse:
            return None
        group = next((g for g in self.adamw.param_groups if any(q is p for q in g["params"])),
                     None)
        applies = (group is not None
                   and group["weight_decay"] == 0 and not group["amsgrad"]
                   and not group["maximize"] and getattr(self.adamw, "found_inf", None) is None
                   and p.dtype == torch.float32 and p.device.type == "cpu" and p.dim() == 2
                   and p.is_contiguous() and grad.dtype == p.dtype and kernel() is not None)
        return group if applies else None

    def _state(self, p: nn.Parameter) -> dict[str, Tensor]:
        """Torch's AdamW state for ``p`` (made as fused AdamW makes it, on first use)."""
        state = self.adamw.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    def _rows_in_use(self, p: nn.Parameter, state: dict[str, Tensor], rows: Tensor) -> Tensor:
        """Rows with a nonzero moment so far, and ``rows``: the only ones AdamW can change."""
        seen = self._used.get(id(p))
        if seen is None or seen[0] is not state["exp_avg"]:  # new, or the state was loaded
            used = (state["exp_avg"] != 0).any(1) | (state["exp_avg_sq"] != 0).any(1)
            self._used[id(p)] = seen = (state["exp_avg"], used)
        seen[1][rows] = True
        return seen[1].nonzero().squeeze(1)

    def _step(self, p: nn.Parameter, group: dict, grad: Tensor) -> None:
        state = self._state(p)
        state["step"] += 1
        rows, values = grad.indices()[0], grad.values().contiguous()
        used = self._rows_in_use(p, state, rows)
        grad_of = torch.full((p.shape[0],), -1, dtype=torch.int64)
        grad_of[rows] = torch.arange(len(rows))
        grad_of = grad_of[used]
        scale = getattr(self.adamw, "grad_scale", None)
        beta1, beta2 = group["betas"]
        status = kernel()(p.data_ptr(), state["exp_avg"].data_ptr(),
                          state["exp_avg_sq"].data_ptr(), values.data_ptr(), used.data_ptr(),
                          grad_of.data_ptr(), len(used), p.shape[0], len(values), p.shape[1],
                          float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
                          float(state["step"]), float(scale) if scale is not None else 0.0,
                          torch.get_num_threads())
        if status != 0:
            raise RuntimeError(f"native row AdamW failed with status {status}")


def claim_or_densify(rows: RowAdamW | None, dense: DenseGradients,
                     parameters: Iterable[nn.Parameter]) -> None:
    """Before clipping and the step: the sparse gradients ``rows`` will step stay sparse
    (:meth:`RowAdamW.claim`), every other one is densified (:meth:`DenseGradients.densify`)."""
    parameters = list(parameters)
    claimed = {id(p) for p in rows.claim(parameters)} if rows is not None else set()
    dense.densify(p for p in parameters if id(p) not in claimed)
