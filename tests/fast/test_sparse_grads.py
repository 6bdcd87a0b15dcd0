"""Sparse word-embedding gradients: the trainer's dense gradient, step after step, is the one
Hugging Face's dense embedding backward gives, and a run trains to the same weights."""

from __future__ import annotations

import pytest
import torch

from tests.tiny_training import trained_weights
from workbench.fast.sparse_grads import DenseGradients, sparse_word_gradients, word_rows
from workbench.losses import LOSSES
from workbench.models.bi_encoder import BiEncoder
from workbench.training import step as step_module

BATCHES = [(["a man plays a guitar", "the cat sleeps"], ["a man is playing music", "a cat"]),
           (["two dogs run", "a woman rides a horse"], ["dogs are running", "a red car"])]


def _no_dropout(enc: BiEncoder) -> BiEncoder:
    """Training mode (the padding-free path) without random masks, so two runs can be compared."""
    for module in enc.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return enc.train()


def _grads(enc: BiEncoder, sparse: bool, dense: DenseGradients) -> list[dict[str, torch.Tensor]]:
    """The gradients after each of two steps (zero_grad between, as the trainer does)."""
    loss = LOSSES["CoSENTLoss"](enc)
    out = []
    for a, b in BATCHES:
        feats = [enc.tokenize(a), enc.tokenize(b)]
        with sparse_word_gradients(sparse):
            loss(feats, torch.tensor([0.9, 0.1])).backward()
        word = enc.transformer.embeddings.word_embeddings.weight
        assert word.grad.is_sparse == sparse
        dense.densify(enc.parameters())
        assert not word.grad.is_sparse
        out.append({n: p.grad.clone() for n, p in enc.named_parameters() if p.grad is not None})
        enc.zero_grad(set_to_none=True)
    return out


def test_densified_gradients_equal_the_dense_backward_step_after_step(tiny_bert_dir):
    torch.manual_seed(0)
    ours = _grads(_no_dropout(BiEncoder.from_pretrained(tiny_bert_dir)), True, DenseGradients())
    theirs = _grads(_no_dropout(BiEncoder.from_pretrained(tiny_bert_dir)), False, DenseGradients())
    for mine, ref in zip(ours, theirs, strict=True):
        assert mine.keys() == ref.keys()
        for name in ref:
            torch.testing.assert_close(mine[name], ref[name], atol=1e-6, rtol=1e-5, msg=name)
    word = "transformer.embeddings.word_embeddings.weight"
    used = (ours[1][word].abs().sum(1) > 0).sum()
    assert 0 < used < ours[1][word].shape[0]  # the second step's rows only: the first's were zeroed


def test_a_run_trains_to_the_same_weights_with_dense_gradients(tiny_bert_dir, shared_data,
                                                                tmp_path, monkeypatch):
    sparse = trained_weights(tiny_bert_dir, shared_data, tmp_path / "sparse")
    monkeypatch.setattr(step_module, "sparse_word_gradients",
                        lambda enabled: sparse_word_gradients(False))
    dense = trained_weights(tiny_bert_dir, shared_data, tmp_path / "dense")
    start = BiEncoder.from_pretrained(tiny_bert_dir).state_dict()
    word = "transformer.embeddings.word_embeddings.weight"
    assert not torch.equal(sparse[word], start[word])  # the embeddings did train
    for name in dense:
        torch.testing.assert_close(sparse[name], dense[name], atol=1e-5, rtol=1e-4, msg=name)


def _backward_rows(table: torch.nn.Embedding, dense: DenseGradients, rows: list[int],
                   zero_grad: bool = True) -> torch.Tensor:
    """One step's sparse backward over ``rows`` (after ``zero_grad`` unless told), densified."""
    if zero_grad:
        table.weight.grad = None
    with sparse_word_gradients():
        word_rows(table, torch.tensor(rows)).sum().backward()
    dense.densify([table.weight])
    return table.weight.grad


def _one_hot_rows(rows: list[int]) -> torch.Tensor:
    expected = torch.zeros(10, 3)
    expected[rows] = 1.0
    return expected


@pytest.mark.parametrize("accumulated", [False, True])
def test_a_gradient_accumulated_into_the_buffer_is_not_reused(accumulated):
    table, dense = torch.nn.Embedding(10, 3), DenseGradients()
    _backward_rows(table, dense, [1, 2])
    # accumulated: no zero_grad, so autograd adds the next sparse gradient into the buffer
    grad = _backward_rows(table, dense, [5], zero_grad=not accumulated)
    torch.testing.assert_close(grad, _one_hot_rows([1, 2, 5] if accumulated else [5]))
    grad = _backward_rows(table, dense, [7])
    torch.testing.assert_close(grad, _one_hot_rows([7]))  # no stale row survives
