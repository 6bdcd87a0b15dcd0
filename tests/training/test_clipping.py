"""Clipping folded into fused AdamW's step updates the weights as clip_grad_norm_ then AdamW does."""

from __future__ import annotations

import pytest
import torch

from tests.tiny_training import trained_weights
from workbench.fast import row_adamw
from workbench.fast.sparse_grads import DenseGradients, sparse_word_gradients, word_rows
from workbench.training import clipping


def _model_and_grads(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    model(torch.randn(7, 6)).square().sum().mul(50).backward()  # total norm well above 1
    return model


def _step(max_norm: float, folded: bool, fused: bool = True) -> tuple[list[torch.Tensor], float]:
    """The first moments after one AdamW step (``(1 - beta1)`` x the clipped gradient: the
    update itself, ``m / sqrt(v)``, does not show a gradient's scale) and the norm returned."""
    model = _model_and_grads()
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.01, fused=fused)
    params = list(model.parameters())
    if folded:
        norm = clipping.clip_in_optimizer(opt, params, max_norm)
        assert (norm is None) == (not fused)
    else:
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    opt.step()
    clipping.release(opt)
    assert getattr(opt, "grad_scale", None) is None
    moments = [opt.state[p]["exp_avg"].clone() for p in params]
    return moments, None if norm is None else float(norm)


@pytest.mark.parametrize("max_norm", [0.5, 1e6])  # clipping on, and a bound never reached
def test_folded_clipping_updates_like_clip_grad_norm(max_norm):
    ours, norm = _step(max_norm, folded=True)
    theirs, ref_norm = _step(max_norm, folded=False)
    assert norm == pytest.approx(ref_norm, rel=1e-6) and ref_norm > 0.5
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=1e-6)
    unclipped, _ = _step(1e6, folded=False)
    scale = min(1.0, max_norm / ref_norm)
    for a, b in zip(ours, unclipped, strict=True):
        torch.testing.assert_close(a, b * scale, atol=1e-7, rtol=1e-5)


def test_no_fused_adamw_means_nothing_is_arranged():
    ours, norm = _step(0.5, folded=True, fused=False)
    assert norm is None


def test_the_norm_of_densified_word_gradients_reads_only_the_written_rows():
    table, dense = torch.nn.Embedding(50, 4), DenseGradients()
    with sparse_word_gradients():
        word_rows(table, torch.tensor([3, 7, 7, 12])).pow(2).sum().backward()
    dense.densify([table.weight])
    parts = dense.norm_parts([table.weight])
    assert parts[0].shape == (3, 4)  # rows 3, 7 and 12
    torch.testing.assert_close(torch.linalg.vector_norm(parts[0]),
                               torch.linalg.vector_norm(table.weight.grad))


def test_a_clipped_run_trains_to_the_same_weights_either_way(tiny_bert_dir, shared_data,
                                                             tmp_path, monkeypatch):
    folded = trained_weights(tiny_bert_dir, shared_data, tmp_path / "folded", max_grad_norm=0.05)
    # nothing arranged: the trainer clips through accelerate. That happens only without fused
    # AdamW, where no word-embedding rows are stepped apart (row_adamw) either
    monkeypatch.setattr(clipping, "clip_in_optimizer", lambda *a, **k: None)
    monkeypatch.setattr(row_adamw, "kernel", lambda: None)
    plain = trained_weights(tiny_bert_dir, shared_data, tmp_path / "plain", max_grad_norm=0.05)
    for name in plain:
        torch.testing.assert_close(folded[name], plain[name], atol=1e-5, rtol=1e-4, msg=name)
