"""The padding-free training forward equals Hugging Face's padded forward on every real token."""

from __future__ import annotations

import torch

from workbench import unpadded

TEXTS = ["a man is playing a guitar on the stage tonight", "a dog", "two girls are dancing",
         "hi", "an old red car is parked in front of the big house"]


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
