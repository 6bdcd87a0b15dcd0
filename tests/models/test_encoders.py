"""Bi-encoder: every layer from one forward equals the physically cut model; dims; bf16."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel

from workbench.models.bi_encoder import BiEncoder, pool, truncate

TEXTS = ["a man is playing guitar", "a woman is riding a horse on the beach",
         "two dogs", "the child is reading a book in the park with her old cat"]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_layer_k_equals_model_cut_to_k_layers(tiny_bert_dir, tiny_encoder, k):
    ours = tiny_encoder.encode_layers(TEXTS, layers=[k])[k]
    cut = AutoModel.from_pretrained(tiny_bert_dir, num_hidden_layers=k)
    assert cut.config.num_hidden_layers == k
    reference = BiEncoder(cut, tiny_encoder.tokenizer, normalize=True).encode(TEXTS)
    assert (ours - reference).abs().max().item() <= 1e-5


def test_all_layers_come_from_one_forward(tiny_encoder):
    calls = []
    hook = tiny_encoder.transformer.register_forward_hook(lambda *_: calls.append(1))
    out = tiny_encoder(tiny_encoder.tokenize(TEXTS), layers=[1, 2, 3])
    hook.remove()
    assert len(calls) == 1 and sorted(out) == [1, 2, 3]
    assert not torch.allclose(out[1], out[3])
    assert torch.allclose(out[3].norm(dim=-1), torch.ones(len(TEXTS)), atol=1e-5)


def test_length_sorted_batches_keep_input_order(tiny_encoder):
    batched = tiny_encoder.encode(TEXTS, batch_size=2)
    one_by_one = torch.cat([tiny_encoder.encode([t]) for t in TEXTS])
    assert (batched - one_by_one).abs().max().item() <= 1e-5


def test_dim_slices_then_renormalises(tiny_encoder):
    full = tiny_encoder.encode(TEXTS)
    cell = tiny_encoder.encode(TEXTS, layer=3, dim=8)
    assert cell.shape == (len(TEXTS), 8)
    assert torch.allclose(cell, F.normalize(full[:, :8], dim=-1), atol=1e-6)
    assert torch.equal(truncate(full, 8, normalize=False), full[:, :8])


def test_unavailable_cells_raise(tiny_encoder):
    with pytest.raises(ValueError, match="layer 4 is not available"):
        tiny_encoder.encode(TEXTS, layer=4)
    with pytest.raises(ValueError, match="dimension 64 is not available"):
        tiny_encoder.encode(TEXTS, dim=64)


def test_pooling_modes():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, -4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.equal(pool(hidden, mask, "mean"), torch.tensor([[2.0, -1.0]]))
    assert torch.equal(pool(hidden, mask, "max"), torch.tensor([[3.0, 2.0]]))
    assert torch.equal(pool(hidden, mask, "cls"), torch.tensor([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="unknown pooling mode"):
        pool(hidden, mask, "sum")


def test_bf16_encode_is_close_to_fp32(minilm_dir):
    enc = BiEncoder.from_pretrained(minilm_dir)
    fp32 = enc.encode(TEXTS)
    bf16 = enc.encode(TEXTS, precision="bf16")
    assert bf16.dtype == torch.float32 and bf16.shape == fp32.shape == (len(TEXTS), 384)
    assert F.cosine_similarity(fp32, bf16).min().item() > 0.99
    assert not torch.equal(fp32, bf16)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_repeated_texts_are_encoded_once_in_input_order(tiny_encoder, monkeypatch, precision):
    repeated = [TEXTS[2], TEXTS[0], TEXTS[2], TEXTS[1], TEXTS[0], TEXTS[2]]
    seen: list[list[str]] = []
    batches = tiny_encoder._batches

    def recording(p):
        run = batches(p)
        return lambda texts, *rest: (seen.append(list(texts)), run(texts, *rest))[1]

    monkeypatch.setattr(tiny_encoder, "_batches", recording)
    out = tiny_encoder.encode_layers(repeated, layers=[2, 3], precision=precision)
    assert seen == [[TEXTS[2], TEXTS[0], TEXTS[1]]]
    distinct = tiny_encoder.encode_layers(seen[0], layers=[2, 3], precision=precision)
    for k in (2, 3):
        assert out[k].shape == (6, tiny_encoder.hidden_size)
        assert torch.equal(out[k], distinct[k][[0, 1, 0, 2, 1, 0]])


def test_a_text_that_is_not_a_string_is_named(tiny_encoder):
    with pytest.raises(TypeError, match=r"texts\[2\] is a list \(\['two'\]\), not a str"):
        tiny_encoder.encode([TEXTS[0], TEXTS[1], ["two"]])
