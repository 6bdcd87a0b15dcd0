"""Parity with sentence-transformers 6.2: same weights, same batch -> same loss and gradients."""

from __future__ import annotations

import random

import pytest
import torch
from sentence_transformers.sentence_transformer import losses as st_losses

from tests.losses.conftest import ANCHORS, NEGATIVES, POSITIVES, SCORES, assert_same, grads
from workbench import losses as wb

DIMS = [32, 16, 8]


class FixedSample:
    """Stands in for ``random.sample``: returns the given positions, one call after another."""

    def __init__(self, positions: list[int]) -> None:
        self.positions = list(positions)

    def __call__(self, population, k):
        assert k == 1 and self.positions, "unexpected draw"
        return [list(population)[self.positions.pop(0)]]


@pytest.mark.parametrize("columns", [[ANCHORS, POSITIVES], [ANCHORS, POSITIVES, NEGATIVES],
                                     [ANCHORS, POSITIVES, NEGATIVES, NEGATIVES[::-1]]],
                         ids=["pairs", "triplets", "two-negatives"])
def test_mnrl(pair, run_parity, columns):
    ours, theirs = pair
    run_parity(wb.MultipleNegativesRankingLoss(ours),
               st_losses.MultipleNegativesRankingLoss(theirs), columns)


def test_cosent(pair, run_parity):
    ours, theirs = pair
    run_parity(wb.CoSENTLoss(ours), st_losses.CoSENTLoss(theirs), [ANCHORS, POSITIVES], SCORES)


@pytest.mark.parametrize("n_dims_per_step", [-1, 1])
def test_matryoshka(pair, run_parity, n_dims_per_step):
    ours, theirs = pair
    for seed in range(2 if n_dims_per_step == 1 else 1):
        run_parity(wb.MatryoshkaLoss(ours, wb.MultipleNegativesRankingLoss(ours), DIMS,
                                     [1.0, 0.5, 2.0], n_dims_per_step=n_dims_per_step),
                   st_losses.MatryoshkaLoss(theirs, st_losses.MultipleNegativesRankingLoss(theirs),
                                            DIMS, [1.0, 0.5, 2.0], n_dims_per_step=n_dims_per_step),
                   [ANCHORS, POSITIVES, NEGATIVES], seed=seed)


def test_adaptive_layer_all_layers_seed_000_config(pair, run_parity):
    ours, theirs = pair
    kwargs = {"n_layers_per_step": -1, "kl_div_weight": 1.2, "kl_temperature": 1.2}
    run_parity(wb.AdaptiveLayerLoss(ours, wb.MultipleNegativesRankingLoss(ours), **kwargs),
               st_losses.AdaptiveLayerLoss(theirs, st_losses.MultipleNegativesRankingLoss(theirs),
                                           **kwargs),
               [ANCHORS, POSITIVES, NEGATIVES])


@pytest.mark.parametrize("weighting", ["log", "linear"])
def test_adaptive_layer_weightings(pair, run_parity, weighting):
    ours, theirs = pair
    kwargs = {"n_layers_per_step": -1, "layer_weighting": weighting}
    run_parity(wb.AdaptiveLayerLoss(ours, wb.CoSENTLoss(ours), **kwargs),
               st_losses.AdaptiveLayerLoss(theirs, st_losses.CoSENTLoss(theirs), **kwargs),
               [ANCHORS, POSITIVES], SCORES)


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_adaptive_layer_one_sampled_layer_fixed(pair, run_parity, monkeypatch, layer):
    ours, theirs = pair
    losses = (wb.AdaptiveLayerLoss(ours, wb.MultipleNegativesRankingLoss(ours)),
              st_losses.AdaptiveLayerLoss(theirs, st_losses.MultipleNegativesRankingLoss(theirs)))
    ours.zero_grad(set_to_none=True)
    theirs.zero_grad(set_to_none=True)
    features = [ours.tokenize(c) for c in (ANCHORS, POSITIVES)]
    values = []
    for loss in losses:
        monkeypatch.setattr(random, "sample", FixedSample([layer]))
        values.append(loss([dict(f) for f in features], None))
        values[-1].backward()
    assert_same(values[0], values[1], grads(ours.transformer), grads(theirs[0].auto_model))


def test_adaptive_layer_seeded_sampling_matches(pair, run_parity):
    ours, theirs = pair
    for seed in range(2):
        run_parity(wb.AdaptiveLayerLoss(ours, wb.MultipleNegativesRankingLoss(ours)),
                   st_losses.AdaptiveLayerLoss(theirs, st_losses.MultipleNegativesRankingLoss(theirs)),
                   [ANCHORS, POSITIVES], seed=seed)


@pytest.mark.parametrize("draws", [[0, 0, 2], [2, 1, 0], [1, 2, 1]],
                         ids=["dim32-layer0-dim8", "dim8-layer1-dim32", "dim16-layer2-dim16"])
def test_matryoshka_2d_sampled_layer_and_dim_fixed(pair, run_parity, monkeypatch, draws):
    """Draw order (as ST): the last layer's dim, the prior layer, that layer's dim."""
    ours, theirs = pair
    losses = (wb.Matryoshka2dLoss(ours, wb.CoSENTLoss(ours), DIMS),
              st_losses.Matryoshka2dLoss(theirs, st_losses.CoSENTLoss(theirs), DIMS))
    ours.zero_grad(set_to_none=True)
    theirs.zero_grad(set_to_none=True)
    features = [ours.tokenize(c) for c in (ANCHORS, POSITIVES)]
    values = []
    for loss in losses:
        fixed = FixedSample(draws)
        monkeypatch.setattr(random, "sample", fixed)
        values.append(loss([dict(f) for f in features], SCORES))
        values[-1].backward()
        assert fixed.positions == []
    assert_same(values[0], values[1], grads(ours.transformer), grads(theirs[0].auto_model))


def test_matryoshka_2d_seeded_sampling_matches(pair, run_parity):
    ours, theirs = pair
    for seed in (0, 3):
        run_parity(wb.Matryoshka2dLoss(ours, wb.MultipleNegativesRankingLoss(ours), DIMS),
                   st_losses.Matryoshka2dLoss(theirs, st_losses.MultipleNegativesRankingLoss(theirs),
                                              DIMS),
                   [ANCHORS, POSITIVES, NEGATIVES], seed=seed)


def test_adaptive_layer_legacy_value_matches_but_teacher_gets_gradient(pair):
    """legacy=True: the published (ST <= 3, linear weighting) loss value; the last layer, no
    longer a detached teacher, also learns from the KL terms."""
    ours, theirs = pair
    kwargs = {"n_layers_per_step": -1, "kl_temperature": 0.5, "layer_weighting": "linear"}
    features = [ours.tokenize(c) for c in (ANCHORS, POSITIVES)]
    reference = st_losses.AdaptiveLayerLoss(theirs, st_losses.CoSENTLoss(theirs), **kwargs)
    ref_value = reference([dict(f) for f in features], SCORES).item()
    results = {}
    for legacy in (False, True):
        ours.zero_grad(set_to_none=True)
        value = wb.AdaptiveLayerLoss(ours, wb.CoSENTLoss(ours), legacy=legacy, **kwargs)(
            [dict(f) for f in features], SCORES)
        value.backward()
        results[legacy] = (value.item(), grads(ours.transformer))
        assert abs(value.item() - ref_value) <= 1e-10
    last_block = "encoder.layer.2.output.dense.weight"  # reaches only the last layer's embedding
    assert not torch.allclose(results[True][1][last_block], results[False][1][last_block])


@pytest.fixture(scope="module")
def ce_pair(tiny_bert_dir, tmp_path_factory):
    """Our CrossEncoder and sentence-transformers' over one saved folder (same random head)."""
    from sentence_transformers.cross_encoder import CrossEncoder as STCrossEncoder

    from workbench.models.cross_encoder import CrossEncoder

    folder = tmp_path_factory.mktemp("ce")
    CrossEncoder.from_pretrained(tiny_bert_dir).save(folder)
    ours = CrossEncoder.from_pretrained(folder).eval().double()
    theirs = STCrossEncoder(str(folder), device="cpu").eval().double()
    return ours, theirs


@pytest.mark.parametrize("pos_weight", [None, 3.0])
def test_bce_cross_encoder(ce_pair, pos_weight):
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss as STBCE

    ours, theirs = ce_pair
    ours.zero_grad(set_to_none=True)
    theirs.zero_grad(set_to_none=True)
    labels = SCORES.clone()
    mine = wb.BinaryCrossEntropyLoss(ours, pos_weight=pos_weight)(
        ours.tokenize(list(zip(ANCHORS, POSITIVES, strict=True))), labels)
    mine.backward()
    weight = None if pos_weight is None else torch.tensor(pos_weight, dtype=torch.float64)
    ref = STBCE(theirs, pos_weight=weight)([ANCHORS, POSITIVES], labels)
    ref.backward()
    assert_same(mine, ref, grads(ours), grads(theirs, prefix="0."))
