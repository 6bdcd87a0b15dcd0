"""Tokenising through the Rust backend: the columns ``tokenizer(...)`` returns, backend restored."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from workbench.fast.tokens import token_columns
from workbench.models.tiny import available_architectures, tiny_model

TEXTS = ["A man is playing a guitar on the stage tonight, and the crowd sings along.", "a dog",
         "", "two girls are dancing in the park while an old man reads a book", "x  y\tz ÷ é"]
OTHERS = ["hi", "a cat sits on a red table near the window of the big house", "b", "c", "d e"]


@pytest.fixture(scope="module", params=available_architectures())
def tokenizer(request, tmp_path_factory):
    folder = tiny_model(tmp_path_factory.mktemp(request.param), request.param)
    return AutoTokenizer.from_pretrained(folder)


@pytest.mark.parametrize("max_length", [128, 9, 4])
def test_columns_equal_the_tokenizer_call(tokenizer, max_length):
    expected = {k: list(v) for k, v in tokenizer(TEXTS, truncation=True,
                                                 max_length=max_length).items()}
    assert token_columns(tokenizer, TEXTS, max_length=max_length) == expected
    pairs = {k: list(v) for k, v in tokenizer(TEXTS, OTHERS, truncation=True,
                                              max_length=max_length).items()}
    assert token_columns(tokenizer, TEXTS, OTHERS, max_length=max_length) == pairs


def test_left_truncation_follows_the_tokenizer(tokenizer):
    tokenizer.truncation_side = "left"
    try:
        expected = {k: list(v) for k, v in tokenizer(TEXTS, truncation=True, max_length=6).items()}
        assert token_columns(tokenizer, TEXTS, max_length=6) == expected
    finally:
        tokenizer.truncation_side = "right"


def test_backend_settings_are_restored(tokenizer):
    backend = tokenizer.backend_tokenizer
    backend.enable_truncation(50)
    backend.enable_padding(length=40, pad_id=0, pad_token=tokenizer.pad_token)
    before = (backend.truncation, backend.padding)
    columns = token_columns(tokenizer, TEXTS, max_length=7)
    assert max(map(len, columns["input_ids"])) == 7 and min(map(len, columns["input_ids"])) < 7
    assert (backend.truncation, backend.padding) == before
    backend.no_truncation()
    backend.no_padding()
    token_columns(tokenizer, TEXTS, max_length=7)
    assert backend.truncation is None and backend.padding is None


def test_real_minilm_tokenizer_on_stsb_sentences(minilm_dir, shared_data):
    from workbench.data.datasets import load_dataset

    tok = AutoTokenizer.from_pretrained(minilm_dir)
    rows = load_dataset("stsb", "test", max_samples=300)
    texts = list(rows["sentence1"]) + list(rows["sentence2"])
    expected = {k: list(v) for k, v in tok(texts, truncation=True, max_length=16).items()}
    assert token_columns(tok, texts, max_length=16) == expected
    assert set(expected) == {"input_ids", "token_type_ids", "attention_mask"}


@pytest.mark.parametrize("arch", ["bert", "roberta", "mpnet", "modernbert"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_cross_encoder_tokenize_equals_the_padded_call(arch, side, tmp_path):
    """``CrossEncoder.tokenize`` pads the backend's columns as ``tokenizer(padding=True)`` does."""
    import torch

    from workbench.models.cross_encoder import CrossEncoder

    ce = CrossEncoder.from_pretrained(tiny_model(tmp_path, arch, classifier=True), max_length=12)
    tokenizer = ce.tokenizer
    tokenizer.padding_side = side
    try:
        ours = ce.tokenize(list(zip(TEXTS, OTHERS, strict=True)))
        theirs = tokenizer(TEXTS, OTHERS, padding=True, truncation=True, max_length=12,
                           return_tensors="pt")
    finally:
        tokenizer.padding_side = "right"
    assert list(ours) == list(theirs)
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), key
