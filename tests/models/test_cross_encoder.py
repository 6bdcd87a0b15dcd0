"""Cross-encoder: sigmoid scores, ranking, and parity with sentence-transformers 6.2 both ways."""

from __future__ import annotations

import json

import pytest
import torch
from sentence_transformers import CrossEncoder as STCrossEncoder
from transformers import BertConfig, BertForSequenceClassification

from workbench.models.cross_encoder import CrossEncoder
from workbench.models.tiny import tiny_cross_encoder

PAIRS = [("a man is playing guitar", "a man plays music"), ("a dog", "the cat is on the table"),
         ("two people are walking", "people walk"), ("a woman is riding a horse", "a red car"),
         ("the child reads", "a girl is reading a book in the park")]


@pytest.fixture(scope="module")
def tiny_ce_dir(tmp_path_factory):
    return tiny_cross_encoder(tmp_path_factory.mktemp("tiny-ce"))


def test_predict_gives_sigmoid_of_logits(tiny_ce_dir):
    ce = CrossEncoder.from_pretrained(tiny_ce_dir)
    scores = ce.predict(PAIRS, batch_size=2)
    with torch.no_grad():
        logits = ce.eval()(ce.tokenize(PAIRS))
    assert logits.shape == (len(PAIRS),)
    assert torch.allclose(scores, torch.sigmoid(logits), atol=1e-6)
    assert scores.std().item() > 0.01  # spread enough for the parity checks to mean something


def test_sentence_transformers_reads_our_save(tiny_ce_dir, tmp_path):
    ce = CrossEncoder.from_pretrained(tiny_ce_dir)
    ce.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["sentence_transformers"]["activation_fn"].endswith("Sigmoid")
    assert (tmp_path / "model.safetensors").exists() and not list(tmp_path.glob("*.bin"))
    theirs = torch.tensor(STCrossEncoder(str(tmp_path), device="cpu").predict(PAIRS))
    assert (theirs - ce.predict(PAIRS)).abs().max().item() <= 1e-5


def test_we_read_a_sentence_transformers_save(tiny_ce_dir, tmp_path):
    st = STCrossEncoder(str(tiny_ce_dir), device="cpu", max_length=48)
    st.save(str(tmp_path))
    ce = CrossEncoder.from_pretrained(tmp_path)
    assert ce.max_length == 48
    theirs = torch.tensor(st.predict(PAIRS))
    assert (theirs - ce.predict(PAIRS)).abs().max().item() <= 1e-5


def test_rank_sorts_best_first(tiny_ce_dir):
    ce = CrossEncoder.from_pretrained(tiny_ce_dir)
    docs = [b for _, b in PAIRS]
    scores = ce.predict([("a man is playing guitar", d) for d in docs])
    hits = ce.rank("a man is playing guitar", docs, top_k=3)
    assert len(hits) == 3 and set(hits[0]) == {"corpus_id", "score", "text"}
    assert hits[0]["corpus_id"] == int(scores.argmax())
    assert [h["score"] for h in hits] == sorted(scores.tolist(), reverse=True)[:3]
    assert all(docs[h["corpus_id"]] == h["text"] for h in hits)
    assert "text" not in ce.rank("x", docs, return_documents=False)[0]


def test_more_than_one_label_is_refused(tiny_ce_dir):
    model = BertForSequenceClassification(BertConfig.from_pretrained(tiny_ce_dir, num_labels=3))
    with pytest.raises(ValueError, match="needs one label"):
        CrossEncoder(model, tokenizer=None)


@pytest.mark.parametrize("max_length", [512, 9])  # 9: longest_first truncation of the pairs
def test_training_batches_equal_tokenize(tiny_ce_dir, max_length):
    from workbench.training.batches import Columns, collate

    ce = CrossEncoder.from_pretrained(tiny_ce_dir, max_length=max_length)
    data = Columns(["s1", "s2"], [[a for a, _ in PAIRS], [b for _, b in PAIRS]],
                   [0.5] * len(PAIRS))
    idx = [3, 0, 4]
    features, labels = collate(ce, data, idx)
    expected = ce.tokenize([PAIRS[i] for i in idx])
    assert len(features) == 1 and features[0].keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(features[0][key], value), key
    assert labels.tolist() == [0.5] * 3


def test_predict_on_the_cpu_runs_on_prepared_weights(tiny_ce_dir, monkeypatch):
    from workbench.fast import inference

    ce = CrossEncoder.from_pretrained(tiny_ce_dir)
    calls = []
    original = inference.classifier_logits
    monkeypatch.setattr(inference, "classifier_logits",
                        lambda *a, **k: calls.append(a[3] if len(a) > 3 else k) or original(*a, **k))
    fast = {p: ce.predict(PAIRS, batch_size=2, precision=p) for p in ("fp32", "bf16")}
    assert calls == ["fp32"] * 3 + ["bf16"] * 3  # every batch, in the precision asked for
    monkeypatch.setattr(CrossEncoder, "_predict_logits", lambda self, f, p: self(f))
    torch.testing.assert_close(ce.predict(PAIRS, batch_size=2), fast["fp32"], atol=1e-6, rtol=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        plain = ce.predict(PAIRS, batch_size=2, precision="bf16")
    torch.testing.assert_close(plain, fast["bf16"], atol=0.02, rtol=0)
