"""Behaviour: matching pairs score lower than shuffled, bad inputs fail loudly, one forward."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from tests.losses.conftest import ANCHORS, NEGATIVES, POSITIVES, SCORES
from workbench import losses as wb
from workbench.losses import LOSSES, LossError, starbucks_schedule


def embedding_losses(enc) -> dict[str, wb.EmbeddingLoss]:
    """One of each bi-encoder loss over ``enc`` (3 layers, 32 dims), KL on where it exists."""
    return {
        "mnrl": wb.MultipleNegativesRankingLoss(enc),
        "cosent": wb.CoSENTLoss(enc),
        "matryoshka": wb.MatryoshkaLoss(enc, wb.CoSENTLoss(enc), [32, 16, 8]),
        "adaptive": wb.AdaptiveLayerLoss(enc, wb.MultipleNegativesRankingLoss(enc),
                                         n_layers_per_step=-1),
        "2d": wb.Matryoshka2dLoss(enc, wb.CoSENTLoss(enc), [32, 16], rng=random.Random(0)),
        "starbucks": wb.StarbucksLoss(enc, wb.MultipleNegativesRankingLoss(enc)),
    }


def hand_made(loss, columns: list[torch.Tensor]):
    """Wrap plain per-column tensors as ``{layer: tensor}`` dicts for the layer wrappers."""
    if isinstance(loss, (wb.AdaptiveLayerLoss, wb.StarbucksLoss)):
        return [{k: c * (k + 1) for k in range(4)} for c in columns]
    return columns


def pairs_with_cosines(cosines: torch.Tensor, dim: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchors and positives at the given cosines; nearly all mass in the first 8 dims, so
    truncation keeps the cosines."""
    scale = torch.ones(dim)
    scale[8:] = 1e-3
    anchors = F.normalize(torch.randn(len(cosines), dim) * scale, dim=-1)
    other = torch.randn(len(cosines), dim) * scale
    other = F.normalize(other - (other * anchors).sum(-1, keepdim=True) * anchors, dim=-1)
    positives = cosines[:, None] * anchors + (1 - cosines[:, None] ** 2).sqrt() * other
    return anchors, positives


@pytest.mark.parametrize("name", ["mnrl", "cosent", "matryoshka", "adaptive", "2d", "starbucks"])
def test_matching_pairs_score_lower_than_shuffled(tiny_encoder, name):
    loss = embedding_losses(tiny_encoder)[name]
    torch.manual_seed(0)
    labels = torch.linspace(0.95, 0.6, 8)
    anchors, positives = pairs_with_cosines(labels)
    shuffled = positives.roll(1, 0)
    matched = loss.compute_loss_from_embeddings(hand_made(loss, [anchors, positives]), labels)
    mismatched = loss.compute_loss_from_embeddings(hand_made(loss, [anchors, shuffled]), labels)
    assert matched.item() < mismatched.item()


def test_bce_lower_for_right_logits():
    loss = wb.BinaryCrossEntropyLoss(None, pos_weight=2.0)
    labels = torch.tensor([1.0, 0.0, 0.7, 0.1])
    right = loss.compute_loss_from_logits(torch.tensor([4.0, -4.0, 1.0, -2.0]), labels)
    wrong = loss.compute_loss_from_logits(torch.tensor([-4.0, 4.0, -1.0, 2.0]), labels)
    assert right.item() < wrong.item()


@pytest.mark.parametrize("name", ["mnrl", "cosent", "matryoshka", "adaptive", "2d", "starbucks"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_embeddings_are_refused(tiny_encoder, name, bad):
    loss = embedding_losses(tiny_encoder)[name]
    a, b = F.normalize(torch.randn(4, 32), dim=-1), F.normalize(torch.randn(4, 32), dim=-1)
    b[2, 5] = bad
    with pytest.raises(LossError, match="NaN/inf"):
        loss.compute_loss_from_embeddings(hand_made(loss, [a, b]), torch.full((4,), 0.5))


@pytest.mark.parametrize("labels", [torch.tensor([0.5, float("nan"), 0.1, 0.2]),
                                    torch.tensor([0.5, float("inf"), 0.1, 0.2])])
def test_nan_or_inf_labels_are_refused(tiny_encoder, labels):
    a, b = F.normalize(torch.randn(4, 32), dim=-1), F.normalize(torch.randn(4, 32), dim=-1)
    with pytest.raises(LossError, match="labels contain"):
        wb.CoSENTLoss(tiny_encoder).compute_loss_from_embeddings([a, b], labels)
    with pytest.raises(LossError, match="labels contain"):
        wb.BinaryCrossEntropyLoss(None).compute_loss_from_logits(torch.zeros(4), labels)
    with pytest.raises(LossError, match="logits contain"):
        wb.BinaryCrossEntropyLoss(None).compute_loss_from_logits(labels, torch.zeros(4))


def test_labels_out_of_range_or_missing_are_refused(tiny_encoder):
    a, b = F.normalize(torch.randn(4, 32), dim=-1), F.normalize(torch.randn(4, 32), dim=-1)
    with pytest.raises(LossError, match=r"labels in \[-1.0, 1.0\]"):
        wb.CoSENTLoss(tiny_encoder).compute_loss_from_embeddings([a, b], torch.tensor([0, 5.0, 3, 1]))
    with pytest.raises(LossError, match=r"labels in \[0.0, 1.0\]"):
        wb.BinaryCrossEntropyLoss(None).compute_loss_from_logits(torch.zeros(4),
                                                                 torch.tensor([0, 1, 2.0, 0]))
    with pytest.raises(LossError, match="4 labels"):
        wb.CoSENTLoss(tiny_encoder).compute_loss_from_embeddings([a, b], torch.zeros(3))
    with pytest.raises(LossError, match="needs labels"):
        wb.CoSENTLoss(tiny_encoder).compute_loss_from_embeddings([a, b], None)


def test_mismatched_columns_are_refused(tiny_encoder):
    enc = tiny_encoder
    feats = [enc.tokenize(c) for c in (ANCHORS, POSITIVES, NEGATIVES)]
    with pytest.raises(LossError, match="exactly 2 text columns, got 3"):
        wb.CoSENTLoss(enc)(feats, SCORES)
    with pytest.raises(LossError, match="at least 2 text columns, got 1"):
        wb.MultipleNegativesRankingLoss(enc)(feats[:1], None)
    with pytest.raises(LossError, match="exactly 2 text columns, got 3"):
        wb.Matryoshka2dLoss(enc, wb.CoSENTLoss(enc), [32, 16])(feats, SCORES)
    with pytest.raises(LossError, match="one shape"):
        wb.MultipleNegativesRankingLoss(enc).compute_loss_from_embeddings(
            [torch.randn(4, 32), torch.randn(3, 32)], None)
    with pytest.raises(LossError, match="ONE feature dict"):
        wb.BinaryCrossEntropyLoss(None)([{}, {}], torch.zeros(2))


@pytest.mark.parametrize("name", ["mnrl", "cosent", "matryoshka", "adaptive", "2d", "starbucks"])
def test_one_transformer_forward_per_column(tiny_encoder, name, monkeypatch):
    enc = tiny_encoder
    loss = embedding_losses(enc)[name]
    calls = []
    original = enc.transformer.forward
    monkeypatch.setattr(enc.transformer, "forward",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    columns = (ANCHORS, POSITIVES)
    value = loss([enc.tokenize(c) for c in columns], SCORES)
    value.backward()
    assert len(calls) == len(columns)
    assert torch.isfinite(value)


def test_bce_one_cross_encoder_forward(tiny_bert_dir, monkeypatch):
    from workbench.models.cross_encoder import CrossEncoder

    ce = CrossEncoder.from_pretrained(tiny_bert_dir)
    from workbench.fast import unpadded

    calls = []
    original, fast = ce.model.forward, unpadded.classifier_logits
    monkeypatch.setattr(ce.model, "forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    monkeypatch.setattr(unpadded, "classifier_logits",  # the padding-free path (same function)
                        lambda *a, **k: calls.append(1) or fast(*a, **k))
    loss = wb.BinaryCrossEntropyLoss(ce)(ce.tokenize(list(zip(ANCHORS, POSITIVES, strict=True))),
                                         SCORES)
    loss.backward()
    assert calls == [1] and torch.isfinite(loss)


def test_injected_rng_fixes_the_draws(tiny_encoder):
    class Recorder:
        def __init__(self):
            self.rng, self.draws = random.Random(7), []

        def sample(self, population, k):
            out = self.rng.sample(population, k)
            self.draws.append(out)
            return out

    emb = [{k: F.normalize(torch.randn(4, 32), dim=-1) for k in range(4)} for _ in range(2)]
    values, draws = [], []
    for _ in range(2):
        rec = Recorder()
        loss = wb.Matryoshka2dLoss(tiny_encoder, wb.CoSENTLoss(tiny_encoder), [32, 16, 8], rng=rec)
        values.append(loss.compute_loss_from_embeddings(emb, SCORES[:4]).item())
        draws.append(rec.draws)
    assert values[0] == values[1] and draws[0] == draws[1] and len(draws[0]) == 3


def test_configs_match_the_seed_cards(tiny_encoder):
    enc = tiny_encoder
    adaptive = wb.AdaptiveLayerLoss(enc, wb.MultipleNegativesRankingLoss(enc), n_layers_per_step=-1,
                                    kl_div_weight=1.2, kl_temperature=1.2)
    assert adaptive.config | {} == {
        "loss": "MultipleNegativesRankingLoss", "n_layers_per_step": -1, "last_layer_weight": 1.0,
        "prior_layers_weight": 1.0, "kl_div_weight": 1.2, "kl_temperature": 1.2,
        "layer_weighting": "uniform", "legacy": False}
    two_d = wb.Matryoshka2dLoss(enc, wb.CoSENTLoss(enc), [16, 32, 8])
    assert two_d.config["loss"] == "CoSENTLoss" and two_d.config["matryoshka_dims"] == [32, 16, 8]
    assert two_d.config["n_dims_per_step"] == 1 and two_d.config["n_layers_per_step"] == 1
    assert wb.MultipleNegativesRankingLoss(enc).config == {"scale": 20.0, "similarity_fct": "cos_sim"}
    assert "li20242d" in two_d.citation and len(two_d.citations) == 3
    assert wb.AdaptiveLayerLoss(enc, wb.CoSENTLoss(enc), legacy=True).layer_weighting == "linear"


def test_registry_names_every_loss():
    for name in ("MultipleNegativesRankingLoss", "CoSENTLoss", "BinaryCrossEntropyLoss",
                 "MatryoshkaLoss", "AdaptiveLayerLoss", "Matryoshka2dLoss", "StarbucksLoss"):
        assert LOSSES[name].__name__ == name
        assert "@" in LOSSES[name].citation and LOSSES[name].__doc__.count("Cost") == 1


def test_starbucks_schedule_and_cells(tiny_encoder):
    assert starbucks_schedule(6, 768) == [(1, 32), (2, 64), (3, 128), (4, 256), (5, 512), (6, 768)]
    assert starbucks_schedule(12, 768)[0] == (2, 32)
    assert starbucks_schedule(3, 32) == [(1, 8), (2, 16), (3, 32)]
    loss = wb.StarbucksLoss(tiny_encoder, wb.CoSENTLoss(tiny_encoder), kl_temperature=0)
    assert loss.layers_needed() == [1, 2, 3]
    emb = [{k: F.normalize(torch.randn(5, 32), dim=-1) for k in (1, 2, 3)} for _ in range(2)]
    inner = wb.CoSENTLoss(tiny_encoder)
    expected = sum(inner.compute_loss_from_embeddings(
        [F.normalize(e[k][:, :d], dim=-1) for e in emb], SCORES) for k, d in loss.layer_dims)
    torch.testing.assert_close(loss.compute_loss_from_embeddings(emb, SCORES), expected)
