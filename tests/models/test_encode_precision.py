"""The bf16 inference path: bf16 weights, token-packed batches, close to fp32, fp32 untouched."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from workbench.fast.bf16_inference import token_batches
from workbench.fast.padding import pad_rows

TEXTS = ["a cat sits on the mat", "short", "a much longer sentence about dogs running in a park",
         "hello world", "x", "the quick brown fox jumps over the lazy dog again and again"]


def test_bf16_all_layers_close_to_fp32_in_input_order(tiny_encoder):
    fp32 = tiny_encoder.encode_layers(TEXTS, batch_size=2)
    bf16 = tiny_encoder.encode_layers(TEXTS, batch_size=2, precision="bf16")
    for k in fp32:
        assert bf16[k].dtype == torch.float32 and bf16[k].shape == fp32[k].shape
        assert F.cosine_similarity(fp32[k], bf16[k]).min().item() > 0.99


def test_bf16_leaves_fp32_weights_and_results_bit_for_bit(tiny_encoder):
    before = tiny_encoder.encode(TEXTS)
    tiny_encoder.encode(TEXTS, precision="bf16")
    assert torch.equal(tiny_encoder.encode(TEXTS), before)
    assert all(p.dtype == torch.float32 for p in tiny_encoder.parameters())
    assert not any("cache" in k for k in tiny_encoder.state_dict())


def test_bf16_copy_follows_weight_updates(tiny_encoder):
    first = tiny_encoder.encode(TEXTS, precision="bf16")
    with torch.no_grad():
        for p in tiny_encoder.transformer.encoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    fp32 = tiny_encoder.encode(TEXTS)
    again = tiny_encoder.encode(TEXTS, precision="bf16")
    assert not torch.allclose(first, again, atol=1e-3)
    assert F.cosine_similarity(fp32, again).min().item() > 0.99


def test_bf16_empty_input(tiny_encoder):
    assert tiny_encoder.encode([], precision="bf16").shape == (0, tiny_encoder.hidden_size)


def test_token_batches_cover_every_text_within_budget():
    lengths = [5, 40, 3, 3, 17, 9, 100, 1]
    batches = list(token_batches(lengths, max_tokens=32))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 32


def test_pad_batch_right_and_left():
    columns = {"input_ids": [[7, 8, 9], [5]], "attention_mask": [[1, 1, 1], [1]]}
    right = pad_rows(columns, [0, 1], pad_id=0)
    assert right["input_ids"].tolist() == [[7, 8, 9], [5, 0, 0]]
    assert right["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    left = pad_rows(columns, [1, 0], pad_id=2, left=True)
    assert left["input_ids"].tolist() == [[2, 2, 5], [7, 8, 9]]
