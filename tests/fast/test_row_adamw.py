"""AdamW on the word-embedding rows in use: parameters, moments and step equal fused AdamW's bit
for bit, step after step, across a state load, and in a whole training run."""

from __future__ import annotations

import pytest
import torch

from tests.tiny_training import trained_weights
from workbench.fast import row_adamw
from workbench.fast.row_adamw import RowAdamW

ROWS = 300

pytestmark = pytest.mark.skipif(row_adamw.kernel() is None, reason="no C++ compiler for the kernel")


def _sparse(step: int, cols: int, generator: torch.Generator) -> torch.Tensor:
    """A coalesced row gradient: 40 draws (repeats summed) from a range that grows with the
    step, so rows used early go unused later, and values from 0.1 to 10."""
    idx = torch.randint(0, ROWS // 3 + step * 20, (40,), generator=generator)
    values = torch.randn(40, cols, generator=generator) * 10.0 ** (step % 3 - 1)
    return torch.sparse_coo_tensor(idx[None], values, (ROWS, cols),
                                   check_invariants=True).coalesce()


def _pair(cols: int, **adamw) -> tuple[list[torch.nn.Parameter], list[torch.optim.AdamW]]:
    """Two equal tables, each with a dense bias beside it, and a fused AdamW for each."""
    torch.manual_seed(0)
    table, bias = torch.randn(ROWS, cols), torch.randn(cols)
    params = [[torch.nn.Parameter(table.clone()), torch.nn.Parameter(bias.clone())]
              for _ in range(2)]
    optims = [torch.optim.AdamW(p, lr=1e-3, weight_decay=0.0, fused=True, **adamw) for p in params]
    return params, optims


def _step(params, optim, rows: RowAdamW | None, grad: torch.Tensor, step: int) -> None:
    table, bias = params
    table.grad = grad if rows is not None else grad.to_dense()
    bias.grad = torch.full_like(bias, 0.01 * step)
    optim.grad_scale = torch.tensor(1.7) if step % 2 else None  # clipping, every other step
    optim.param_groups[0]["lr"] = 1e-3 * (step + 1) / 8  # a schedule
    if rows is None:
        optim.step()
        return
    assert rows.claim(params) == [table]
    with rows.stepping():
        optim.step()
    assert table.grad is grad  # given back after the step


def _assert_equal(ours, theirs, optims) -> None:
    for mine, ref in zip(ours, theirs, strict=True):
        assert torch.equal(mine, ref)
        a, b = optims[0].state[mine], optims[1].state[ref]
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key
            assert a[key].dtype == b[key].dtype


@pytest.mark.parametrize(("cols", "betas"), [(384, (0.9, 0.999)), (20, (0.9, 0.999)),
                                             (32, (0.3, 0.99))])  # beta1 < 0.5: lerp from g
def test_rows_equal_fused_adamw_bit_for_bit(cols, betas):
    params, optims = _pair(cols, betas=betas)
    rows, generator = RowAdamW(optims[0]), torch.Generator().manual_seed(1)
    for step in range(8):
        grad = _sparse(step, cols, generator)
        _step(params[0], optims[0], rows, grad, step)
        _step(params[1], optims[1], None, grad, step)
        _assert_equal(params[0], params[1], optims)
    untouched = (optims[0].state[params[0][0]]["exp_avg_sq"] == 0).all(1)
    assert 0 < untouched.sum() < ROWS  # some rows were never used, and were skipped


def test_a_loaded_state_reads_the_rows_in_use_again():
    params, optims = _pair(64)
    generator = torch.Generator().manual_seed(2)
    rows = RowAdamW(optims[0])
    grads = [_sparse(step, 64, generator) for step in range(6)]
    for step in range(3):
        _step(params[0], optims[0], rows, grads[step], step)
        _step(params[1], optims[1], None, grads[step], step)
    saved = optims[0].state_dict()
    fresh = torch.optim.AdamW(params[0], lr=1e-3, weight_decay=0.0, fused=True)
    fresh.load_state_dict(saved)  # new moment tensors: the rows in use must be read from them
    rows, optims = RowAdamW(fresh), [fresh, optims[1]]
    for step in range(3, 6):
        _step(params[0], fresh, rows, grads[step], step)
        _step(params[1], optims[1], None, grads[step], step)
    _assert_equal(params[0], params[1], optims)


def test_steps_left_to_fused_adamw_in_between_are_taken_into_account(monkeypatch):
    params, optims = _pair(16)
    rows, generator = RowAdamW(optims[0]), torch.Generator().manual_seed(3)
    real = row_adamw.kernel
    for step in range(9):
        grad = _sparse(step, 16, generator)
        if step % 3 == 1:  # fused AdamW steps the whole table (as without the kernel)
            monkeypatch.setattr(row_adamw, "kernel", lambda: None)
            params[0][0].grad = grad
            assert rows.claim(params[0]) == []
            _step(params[0], optims[0], None, grad, step)
            monkeypatch.setattr(row_adamw, "kernel", real)
        else:
            _step(params[0], optims[0], rows, grad, step)
        _step(params[1], optims[1], None, grad, step)
    _assert_equal(params[0], params[1], optims)


@pytest.mark.parametrize("adamw", [dict(weight_decay=0.01), dict(amsgrad=True),
                                   dict(maximize=True)])
def test_what_it_cannot_match_is_left_to_fused_adamw(adamw):
    table = torch.nn.Parameter(torch.randn(ROWS, 8))
    optim = torch.optim.AdamW([table], lr=1e-3, fused=True, **{"weight_decay": 0.0, **adamw})
    table.grad = _sparse(0, 8, torch.Generator().manual_seed(0))
    assert RowAdamW(optim).claim([table]) == []
    table.grad = table.grad.to_dense()
    assert RowAdamW(optim).claim([table]) == []  # nor a dense gradient


def test_without_the_kernel_nothing_is_claimed(monkeypatch):
    params, optims = _pair(8)
    params[0][0].grad = _sparse(0, 8, torch.Generator().manual_seed(0))
    monkeypatch.setattr(row_adamw, "kernel", lambda: None)
    assert RowAdamW(optims[0]).claim(params[0]) == []


def test_a_run_trains_to_the_same_weights_as_densified_gradients(tiny_bert_dir, shared_data,
                                                                 tmp_path, monkeypatch):
    claimed = []
    claim = RowAdamW.claim
    monkeypatch.setattr(RowAdamW, "claim", lambda self, ps: claimed.append(claim(self, ps))
                        or claimed[-1])
    rows = trained_weights(tiny_bert_dir, shared_data, tmp_path / "rows", max_grad_norm=0.05)
    assert claimed and all(len(c) == 1 for c in claimed)  # the word embeddings, every step
    monkeypatch.setattr(row_adamw, "kernel", lambda: None)  # densified, fused AdamW
    dense = trained_weights(tiny_bert_dir, shared_data, tmp_path / "dense", max_grad_norm=0.05)
    for name in dense:
        assert torch.equal(rows[name], dense[name]), name
