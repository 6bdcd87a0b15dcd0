"""Every fast-path architecture's padding-free forward equals Hugging Face's padded one (fp32)."""

from __future__ import annotations

import logging

import pytest
import torch

from tests.fast.conftest import build, features
from workbench.fast import registry, unpadded


def _no_dropout(model: torch.nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0


@pytest.mark.parametrize("buckets", [32, 2])
def test_hidden_states_equal_hf(arch, buckets, monkeypatch):
    monkeypatch.setattr(unpadded, "BUCKET_SEQUENCES", buckets)
    model = build(arch)
    feats = features(model, pairs=arch == "bert")
    assert unpadded.supports(model, feats)
    with torch.no_grad():
        theirs = model(**feats, output_hidden_states=True).hidden_states
        ours, keep = unpadded.hidden_states(model, feats)
    real = feats["attention_mask"].bool().unsqueeze(-1)
    assert len(ours) == len(theirs) == model.config.num_hidden_layers + 1
    for k, (o, t) in enumerate(zip(ours, theirs, strict=True)):
        padded = unpadded.repad(o, keep, tuple(feats["attention_mask"].shape))
        torch.testing.assert_close(padded, t.masked_fill(~real, 0.0), atol=1e-5, rtol=0,
                                   msg=f"{arch} state {k}")


def test_training_gradients_equal_hf(arch):
    """Train mode with dropout 0: same loss and same gradients as the padded forward."""
    model = build(arch).double().train()
    _no_dropout(model)
    feats = features(model)
    real = feats["attention_mask"].unsqueeze(-1).double()

    def loss_of(states: torch.Tensor) -> torch.Tensor:
        return ((states * real).sum(1) / real.sum(1)).square().sum()

    loss_of(model(**feats).last_hidden_state).backward()
    ref = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    states, keep = unpadded.hidden_states(model, feats)
    loss_of(unpadded.repad(states[-1], keep, tuple(feats["attention_mask"].shape))).backward()
    for name, grad in ref.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, atol=1e-9,
                                   rtol=1e-7, msg=f"{arch} {name}")


def test_classifier_logits_equal_hf(arch):
    model = build(arch, head=True)
    feats = features(model, pairs=arch == "bert")
    assert unpadded.supports_classifier(model, feats)
    with torch.no_grad():
        torch.testing.assert_close(unpadded.classifier_logits(model, feats),
                                   model(**feats).logits, atol=1e-5, rtol=0)


def test_classifier_refuses_left_padding(arch):
    model = build(arch, head=True)
    assert not unpadded.supports_classifier(model, features(model, left=True))


def test_registry_is_keyed_on_classes_not_names():
    from transformers import BertModel

    class BertModel2(BertModel):  # a subclass may change forward: not fast unless registered
        pass

    model = build("bert")
    assert registry.lookup(model) is not None
    model.__class__ = BertModel2
    assert registry.lookup(model, quiet=True) is None


def test_deberta_falls_back_and_says_so_once(caplog):
    model = build("deberta-v2")
    feats = features(model)
    registry._said.clear()
    with caplog.at_level(logging.WARNING, logger="workbench.fast"):
        assert not unpadded.supports(model, feats)
        assert not unpadded.supports(model, feats)
    said = [r for r in caplog.records if "DebertaV2Model" in r.getMessage()]
    assert len(said) == 1 and "padded forward" in said[0].getMessage()


def test_unsupported_configuration_falls_back(caplog):
    model = build("bert")
    model.config.chunk_size_feed_forward = 4
    with caplog.at_level(logging.WARNING, logger="workbench.fast"):
        assert registry.lookup(model) is None
    assert "chunked feed-forward" in caplog.text
