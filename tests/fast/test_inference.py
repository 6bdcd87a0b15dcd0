"""Padding-free inference: the same embeddings as Hugging Face's padded forward, prepared weights
cached per block (a cut model reuses them), the fallback for unregistered encoders said once."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from tests.fast.conftest import build, features, hf_pooled
from workbench.evaluators.grid import latency_per_depth
from workbench.fast import inference, registry
from workbench.models.bi_encoder import BiEncoder, pool
from workbench.models.layers import cut_blocks

TEXTS = ["a man is playing a guitar on the stage tonight", "a dog", "two girls are dancing",
         "hi", "an old red car is parked in front of the big house", "x y z"]


@pytest.mark.parametrize("mode", ["mean", "cls", "max"])
def test_pooled_layers_equal_hf(arch, mode):
    model = build(arch)
    feats = features(model, pairs=arch == "bert")
    reference = hf_pooled(model, feats, mode)
    ours = inference.pooled(model, feats, [0, 1, 3], mode, "fp32")
    assert sorted(ours) == [0, 1, 3]
    for k, emb in ours.items():
        torch.testing.assert_close(emb, reference[k], atol=1e-5, rtol=0, msg=f"{arch} layer {k}")
    bf16 = inference.pooled(model, feats, [3], mode, "bf16")[3]
    assert bf16.dtype == torch.float32
    assert F.cosine_similarity(bf16, ours[3]).min() > 0.99


def test_encode_runs_padding_free_and_equals_the_padded_path(tiny_encoder, monkeypatch):
    fast = tiny_encoder.encode_layers(TEXTS, batch_size=2)
    monkeypatch.setattr(inference, "supported", lambda *_: False)
    padded = tiny_encoder.encode_layers(TEXTS, batch_size=2)
    for k in padded:
        torch.testing.assert_close(fast[k], padded[k], atol=1e-5, rtol=0)


def test_prepared_weights_survive_a_cut_and_follow_updates(tiny_encoder, monkeypatch):
    casts = []
    original = inference._cast
    monkeypatch.setattr(inference, "_cast", lambda *a: casts.append(1) or original(*a))
    tiny_encoder.encode(TEXTS, precision="bf16")
    made = len(casts)
    assert made == tiny_encoder.num_layers
    latency_per_depth(tiny_encoder, TEXTS, [1, 2, 3], batch_size=2, precision="bf16")
    with cut_blocks(tiny_encoder.transformer, 2):
        tiny_encoder.encode(TEXTS, precision="bf16", layer=2)
    assert len(casts) == made  # nothing re-made at any depth, timed or not
    with torch.no_grad():
        tiny_encoder.transformer.encoder.layer[0].output.dense.weight.add_(0.1)
    tiny_encoder.encode(TEXTS, precision="bf16")
    assert len(casts) == made + 1  # only the changed block


def test_unregistered_encoder_falls_back_once_in_the_log(tiny_bert_dir, caplog):
    from transformers import AutoTokenizer, DebertaV2Config, DebertaV2Model

    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    torch.manual_seed(0)
    deberta = DebertaV2Model(DebertaV2Config(vocab_size=len(tok), hidden_size=32,
                                             num_hidden_layers=2, num_attention_heads=4,
                                             intermediate_size=64)).eval()
    enc = BiEncoder(deberta, tok).eval()
    registry._said.clear()
    with caplog.at_level(logging.WARNING, logger="workbench.fast"):
        fp32 = enc.encode_layers(TEXTS, batch_size=2)
        enc.encode_layers(TEXTS, batch_size=2, precision="bf16")
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1
    assert "DebertaV2Model" in caplog.text and "padded forward" in caplog.text
    with torch.no_grad():
        ref = deberta(**enc.tokenize(TEXTS), output_hidden_states=True).hidden_states[1]
    expected = pool(ref, enc.tokenize(TEXTS)["attention_mask"])
    expected = F.normalize(expected, dim=-1) if enc.normalize else expected
    torch.testing.assert_close(fp32[1], expected, atol=1e-5, rtol=0)


def test_packed_weights_give_the_plain_weights_embeddings(tiny_encoder, monkeypatch):
    """fp32 linear weights packed once for oneDNN change no value; bf16 ones stay plain."""
    from workbench.fast import onednn

    precision = "fp32"
    assert onednn.packs(torch.float32) == onednn.works(torch.float32)
    assert not onednn.packs(torch.bfloat16)
    packed = tiny_encoder.encode_layers(TEXTS, batch_size=2, precision=precision)
    block = tiny_encoder.transformer.encoder.layer[0]
    weights = inference._PREPARED[block][1]
    assert all(getattr(weights, n)[0].layout == torch._mkldnn for n in ("qkv", "out", "up", "down"))
    monkeypatch.setattr(onednn, "packs", lambda dtype: False)
    plain = tiny_encoder.encode_layers(TEXTS, batch_size=2, precision=precision)
    assert inference._PREPARED[block][1].out[0].layout == torch.strided  # re-made, unpacked
    for k in packed:
        assert torch.equal(packed[k], plain[k]), k


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_classifier_logits_on_prepared_weights_equal_the_forward(arch, pooling):
    from workbench.fast import unpadded

    model = build(arch, head=True)
    feats = features(model, pairs=arch == "bert")
    with torch.no_grad():
        reference = (model(**feats).logits[:, 0] if pooling == "cls" else
                     unpadded.classifier_logits(model, feats, pooling)[:, 0])
    ours = inference.classifier_logits(model, feats, pooling, "fp32")
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0, msg=arch)
    bf16 = inference.classifier_logits(model, feats, pooling, "bf16")
    assert bf16.dtype == torch.float32
    torch.testing.assert_close(bf16, reference, atol=0.05, rtol=0.05, msg=arch)
