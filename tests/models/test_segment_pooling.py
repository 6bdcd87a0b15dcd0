"""Segment pooling: the head compares the two texts' token states at every depth; it starts as a
scaled cosine, the padding-free path equals the padded one, the cut models are what
``forward_layers`` trains, and a saved cut scores the same in sentence-transformers 6.2."""

from __future__ import annotations

import json

import pytest
import torch
from sentence_transformers import CrossEncoder as STCrossEncoder

from workbench.fast import unpadded
from workbench.models.cross_encoder import (
    SEGMENT_CENTRE,
    SEGMENT_SCALE,
    CrossEncoder,
    cut_cross_encoder,
    head_logits,
)
from workbench.models.export import export_cut
from workbench.models.segment_pooling import second_segment
from workbench.models.specs import tiny_cross_encoder

PAIRS = [("a man is playing guitar", "a man plays music"), ("a dog", "the cat is on the table"),
         ("two people are walking", "people walk"), ("a woman is riding a horse", "a red car"),
         ("the child reads", "a girl is reading a book in the park")]


@pytest.fixture(scope="module")
def segment_ce(tmp_path_factory):
    tiny = tiny_cross_encoder(tmp_path_factory.mktemp("tiny-ce-segments"))
    return CrossEncoder.from_pretrained(tiny, pooling="segments").eval()


def _cosine_by_hand(ce: CrossEncoder, pair: tuple[str, str], depth: int) -> float:
    """Pool each text's tokens one pair at a time, no batching, no padding."""
    feats = ce.tokenize([pair])
    with torch.no_grad():
        states = ce.model.base_model(**feats, output_hidden_states=True).hidden_states[depth][0]
    ids = feats["input_ids"][0].tolist()
    first_sep = ids.index(ce.tokenizer.sep_token_id)
    a, b = states[:first_sep + 1].mean(0), states[first_sep + 1:].mean(0)
    return float(torch.cosine_similarity(a, b, dim=0))


def test_second_segment_starts_after_the_first_separator():
    ids = torch.tensor([[101, 7, 8, 102, 9, 102, 0], [0, 5, 2, 2, 6, 2, 1]])
    assert second_segment(ids[:1], 102).tolist() == [[False] * 4 + [True] * 3]
    assert second_segment(ids[1:], 2).tolist() == [[False] * 3 + [True] * 4]  # RoBERTa </s></s>


def test_a_new_segment_head_scores_the_scaled_cosine_of_the_two_texts(segment_ce):
    assert segment_ce.pooling == "segments"
    assert segment_ce.model.config.sep_token_id == segment_ce.tokenizer.sep_token_id
    expected = torch.tensor([torch.sigmoid(torch.tensor(
        SEGMENT_SCALE * (_cosine_by_hand(segment_ce, p, 3) - SEGMENT_CENTRE))).item() for p in PAIRS])
    torch.testing.assert_close(segment_ce.predict(PAIRS), expected, atol=1e-5, rtol=0)


def test_padding_free_and_padded_paths_and_the_cut_models_agree(segment_ce):
    feats = segment_ce.tokenize(PAIRS)
    assert unpadded.supports_classifier(segment_ce.model, feats)  # the fast path is what runs
    with torch.no_grad():
        fast = segment_ce.forward_layers(feats, [1, 2, 3])
        states = segment_ce.model.base_model(**feats, output_hidden_states=True).hidden_states
        for k in (1, 2, 3):
            padded = head_logits(segment_ce.model, states[k], feats["attention_mask"],
                                 feats["input_ids"]).squeeze(-1)
            with cut_cross_encoder(segment_ce, k):
                cut = segment_ce(feats)
            torch.testing.assert_close(fast[k], padded, atol=1e-5, rtol=0)
            torch.testing.assert_close(cut, padded, atol=1e-5, rtol=0)
    assert not torch.allclose(fast[1], fast[3], atol=1e-3)


def test_segment_head_trains_through_the_fast_path(segment_ce):
    ce = CrossEncoder.from_pretrained(segment_ce.model.name_or_path, pooling="segments").train()
    logits = ce.forward_layers(ce.tokenize(PAIRS), [1, 3])
    (logits[1].sum() + logits[3].sum()).backward()
    output = ce.model.classifier
    assert output.weight.grad is not None and output.weight.grad.abs().sum() > 0
    assert ce.model.bert.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("layers", [1, 3])
def test_saved_segment_cut_loads_in_sentence_transformers_with_identical_scores(
        segment_ce, tmp_path, layers):
    export_cut(segment_ce, layers=layers, dim=None, out=tmp_path, texts=[p[0] for p in PAIRS],
               repeats=1)
    modules = json.loads((tmp_path / "modules.json").read_text())
    assert [m["type"] for m in modules][1] == "segment_pooling.SegmentPooling"
    assert (tmp_path / "segment_pooling.py").exists()
    theirs = torch.tensor(STCrossEncoder(str(tmp_path), device="cpu",
                                         trust_remote_code=True).predict(PAIRS))
    ours = segment_ce.predict(PAIRS, layer=layers)
    torch.testing.assert_close(theirs, ours, atol=1e-6, rtol=0)
    again = CrossEncoder.from_pretrained(tmp_path)
    assert again.pooling == "segments" and again.num_layers == layers
    torch.testing.assert_close(again.predict(PAIRS), ours, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="trust_remote_code"):
        STCrossEncoder(str(tmp_path), device="cpu")  # it runs code from the folder: asked first


@pytest.mark.parametrize("arch", ["roberta", "mpnet"])
def test_roberta_style_heads_read_the_segments_and_export(tmp_path, arch):
    """RoBERTa / MPNet: ``<s> a </s></s> b </s>``, the head's ``out_proj`` reads ``z``."""
    tiny = tiny_cross_encoder(tmp_path / "tiny", arch=arch)
    ce = CrossEncoder.from_pretrained(tiny, pooling="segments").eval()
    expected = torch.tensor([torch.sigmoid(torch.tensor(
        SEGMENT_SCALE * (_cosine_by_hand(ce, p, 3) - SEGMENT_CENTRE))).item() for p in PAIRS])
    torch.testing.assert_close(ce.predict(PAIRS), expected, atol=1e-5, rtol=0)
    export_cut(ce, layers=2, dim=None, out=tmp_path / "cut", texts=[p[0] for p in PAIRS], repeats=1)
    theirs = torch.tensor(STCrossEncoder(str(tmp_path / "cut"), device="cpu",
                                         trust_remote_code=True).predict(PAIRS))
    torch.testing.assert_close(theirs, ce.predict(PAIRS, layer=2), atol=1e-6, rtol=0)
