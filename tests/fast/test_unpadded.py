"""The padding-free training forward equals Hugging Face's padded forward on every real token."""

from __future__ import annotations

import pytest
import torch

from workbench.fast import unpadded
from workbench.models.cross_encoder import CrossEncoder
from workbench.models.tiny import tiny_cross_encoder

TEXTS = ["a man is playing a guitar on the stage tonight", "a dog", "two girls are dancing",
         "hi", "an old red car is parked in front of the big house"]


@pytest.fixture(autouse=True, params=[32, 2], ids=["one-bucket", "buckets-of-2"])
def bucket_size(request, monkeypatch):
    """Every test runs with one attention bucket and with length buckets of two sequences."""
    monkeypatch.setattr(unpadded, "BUCKET_SEQUENCES", request.param)
    return request.param


def _no_dropout(module: torch.nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    for layer in module.encoder.layer:
        layer.attention.self.dropout.p = 0.0


def test_states_equal_padded_forward(tiny_encoder):
    bert = tiny_encoder.transformer.double()
    feats = tiny_encoder.tokenize(TEXTS)
    assert unpadded.supports(bert, feats)
    reference = bert(**feats, output_hidden_states=True).hidden_states
    states, keep = unpadded.hidden_states(bert, feats)
    mask = feats["attention_mask"].bool().unsqueeze(-1)
    assert len(states) == len(reference)
    for ours, theirs in zip(states, reference, strict=True):
        padded = unpadded.repad(ours, keep, tuple(feats["attention_mask"].shape))
        torch.testing.assert_close(padded, theirs.masked_fill(~mask, 0.0), atol=1e-10, rtol=0)


def test_training_forward_and_gradients_match_eval_path(tiny_encoder):
    enc = tiny_encoder.double()
    feats = enc.tokenize(TEXTS)
    enc.transformer.eval()
    ref = enc(feats, layers=[0, 1, 3])
    sum(v.sum() for v in ref.values()).backward()
    ref_grads = {n: p.grad.clone() for n, p in enc.named_parameters() if p.grad is not None}
    enc.zero_grad(set_to_none=True)
    enc.train()
    _no_dropout(enc.transformer)
    calls = []
    hook = enc.transformer.embeddings.word_embeddings.register_forward_hook(
        lambda *_: calls.append(1))
    out = enc(feats, layers=[0, 1, 3])
    hook.remove()
    assert len(calls) == 1  # still one pass over the transformer
    for k in ref:
        torch.testing.assert_close(out[k], ref[k], atol=1e-10, rtol=0)
    sum(v.sum() for v in out.values()).backward()
    for name, grad in ref_grads.items():
        torch.testing.assert_close(dict(enc.named_parameters())[name].grad, grad,
                                   atol=1e-9, rtol=0, msg=name)


def test_unsupported_features_fall_back(tiny_encoder):
    feats = tiny_encoder.tokenize(TEXTS)
    assert not unpadded.supports(tiny_encoder.transformer, {**feats, "position_ids": None})
    assert not unpadded.supports(torch.nn.Linear(2, 2), feats)


def test_a_transformers_lacking_what_the_path_reads_keeps_the_reference_forward(tiny_encoder,
                                                                                monkeypatch):
    feats = tiny_encoder.tokenize(TEXTS)
    assert unpadded.supports(tiny_encoder.transformer, feats)
    # as a transformers release whose BertSelfAttention lacks ``scaling`` (before 4.48)
    from workbench.fast import architectures, registry

    monkeypatch.setattr(registry, "_readable", {})
    for block in tiny_encoder.transformer.encoder.layer:
        monkeypatch.delattr(block.attention.self, "scaling")
    assert "scaling" in registry.missing_parts(architectures.BERT, tiny_encoder.transformer)
    assert not unpadded.supports(tiny_encoder.transformer, feats)


PAIRS = [("a man is playing guitar", "a man plays music on the big stage tonight"),
         ("a dog", "hi"), ("two people are walking", "people walk"), ("hi", "a red car")]


@pytest.fixture(scope="module")
def tiny_ce_dir(tmp_path_factory):
    return tiny_cross_encoder(tmp_path_factory.mktemp("tiny-ce-unpadded"))


def test_classifier_logits_equal_padded_forward(tiny_ce_dir):
    ce = CrossEncoder.from_pretrained(tiny_ce_dir).eval()
    feats = ce.tokenize(PAIRS)
    assert feats["token_type_ids"].any()  # pairs: the second text is segment 1
    assert unpadded.supports_classifier(ce.model, feats)
    for f in (feats, {k: v for k, v in feats.items() if k != "token_type_ids"}):
        with torch.no_grad():
            ours = unpadded.classifier_logits(ce.model, f)
            theirs = ce.model(**f).logits
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_cross_encoder_training_forward_and_gradients_match(tiny_ce_dir):
    ce = CrossEncoder.from_pretrained(tiny_ce_dir).double()
    feats = ce.tokenize(PAIRS)
    ce.eval()
    ref = ce.model(**feats).logits.squeeze(-1)  # Hugging Face's padded forward
    ref.square().sum().backward()
    ref_grads = {n: p.grad.clone() for n, p in ce.named_parameters() if p.grad is not None}
    ce.zero_grad(set_to_none=True)
    ce.train()
    _no_dropout(ce.model.bert)
    ce.model.dropout.p = 0.0
    calls = []
    hook = ce.model.bert.encoder.register_forward_hook(lambda *_: calls.append(1))
    out = ce(feats)
    hook.remove()
    assert not calls  # the unpadded path ran, not Hugging Face's encoder
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=0)
    out.square().sum().backward()
    grads = {n: p.grad for n, p in ce.named_parameters() if p.grad is not None}
    assert grads.keys() == ref_grads.keys()
    for name, grad in ref_grads.items():
        torch.testing.assert_close(grads[name], grad, atol=1e-9, rtol=0, msg=name)


def test_classifier_needs_cls_first(tiny_ce_dir):
    ce = CrossEncoder.from_pretrained(tiny_ce_dir)
    feats = ce.tokenize(PAIRS)
    left = {k: v.flip(1) for k, v in feats.items()}  # left padding: position 0 may be padding
    assert not unpadded.supports_classifier(ce.model, left)
    assert not unpadded.supports_classifier(ce.model.bert, feats)


def test_bucket_layout_scatters_each_token_to_its_own_slot(tiny_encoder, bucket_size):
    """Unique slots: the scatter into buckets and its gradient never add two rows into one."""
    feats = tiny_encoder.tokenize(TEXTS)
    layout = unpadded._layout(feats)
    lengths = feats["attention_mask"].sum(1)
    assert len(layout.sizes) == -(-len(TEXTS) // bucket_size)
    assert len(layout.slot) == int(lengths.sum()) == len(set(layout.slot.tolist()))
    assert sum(n * longest for n, longest in layout.sizes) >= len(layout.slot)
    assert sorted(layout.seqs.tolist()) == list(range(len(TEXTS)))
