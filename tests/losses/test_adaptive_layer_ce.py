"""AdaptiveLayerCrossEncoderLoss: per-depth logits are the cut models', the teacher is detached,
and training puts every depth on one scale (one threshold works at any depth)."""

from __future__ import annotations

import random

import pytest
import torch

from workbench.evaluators.reranker_grid import threshold_accuracy
from workbench.fast import unpadded
from workbench.losses import LOSSES, AdaptiveLayerCrossEncoderLoss, LossError
from workbench.losses.adaptive_layer_ce import bernoulli_kl
from workbench.models.cross_encoder import CrossEncoder, cut_cross_encoder
from workbench.models.specs import tiny_cross_encoder

PAIRS = [("a man is playing guitar", "a man plays music"), ("a dog", "the cat is on the table"),
         ("two people are walking", "people walk"), ("a woman is riding a horse", "a red car"),
         ("the child reads", "a girl is reading a book in the park")]


@pytest.fixture(scope="module")
def tiny_ce_dir(tmp_path_factory):
    return tiny_cross_encoder(tmp_path_factory.mktemp("tiny-ce-adaptive"))


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_layer_logits_are_the_cut_models_logits(tiny_ce_dir, pooling):
    ce = CrossEncoder.from_pretrained(tiny_ce_dir, pooling=pooling).eval()
    assert ce.pooling == pooling
    feats = ce.tokenize(PAIRS)
    with torch.no_grad():
        per_layer = ce.forward_layers(feats, [1, 2, 3])
        fast = unpadded.classifier_layer_logits(ce.model, feats, [1, 2, 3], pooling)
        for k in (1, 2, 3):
            with cut_cross_encoder(ce, k):
                cut = ce(feats)
            torch.testing.assert_close(per_layer[k], cut, atol=1e-5, rtol=0)
            torch.testing.assert_close(fast[k], cut, atol=1e-5, rtol=0)
    assert len(ce.model.bert.encoder.layer) == 3  # restored after each cut
    assert not torch.allclose(per_layer[1], per_layer[3])
    if pooling == "mean":  # the head really reads another row than [CLS]
        with torch.no_grad():
            ce.model.config.classifier_pooling = "cls"
            assert not torch.allclose(ce(feats), per_layer[3], atol=1e-4)


def test_last_layer_only_is_plain_bce():
    logits, labels = torch.tensor([2.0, -1.0, 0.3]), torch.tensor([1.0, 0.2, 0.5])
    loss = AdaptiveLayerCrossEncoderLoss(None)
    plain = LOSSES["BinaryCrossEntropyLoss"](None).compute_loss_from_logits(logits, labels)
    torch.testing.assert_close(loss.compute_loss_from_logits({6: logits}, labels), plain)


@pytest.mark.parametrize("distill", ["kl", "mse"])
def test_pull_is_zero_at_the_teacher_and_never_moves_it(distill):
    labels = torch.tensor([1.0, 0.0, 0.5])
    last = torch.tensor([1.5, -2.0, 0.1], requires_grad=True)
    prior = torch.tensor([1.5, -2.0, 0.1], requires_grad=True)
    only_pull = AdaptiveLayerCrossEncoderLoss(None, distill=distill, last_layer_weight=0.0)
    bce_only = AdaptiveLayerCrossEncoderLoss(None, distill_weight=0.0, last_layer_weight=0.0)
    gap = only_pull.compute_loss_from_logits({1: prior, 2: last}, labels) \
        - bce_only.compute_loss_from_logits({1: prior, 2: last}, labels)
    assert abs(gap.detach().item()) < 1e-6  # equal logits: no pull
    moved = prior.detach() + torch.tensor([1.0, 1.0, -1.0])
    moved.requires_grad_(True)
    loss = only_pull.compute_loss_from_logits({1: moved, 2: last}, labels)
    loss.backward()
    assert last.grad is None or float(last.grad.abs().sum()) == 0.0  # teacher detached, w_last 0
    pull = AdaptiveLayerCrossEncoderLoss(None, distill=distill, last_layer_weight=0.0)
    grad = torch.autograd.grad(pull._pull(moved, last.detach()), moved)[0]
    assert torch.equal(grad.sign(), torch.tensor([1.0, 1.0, -1.0]))  # towards the teacher


def test_bernoulli_kl_matches_the_definition():
    s, t = torch.tensor([0.3, -1.2]), torch.tensor([2.0, 0.5])
    p, q = torch.sigmoid(t), torch.sigmoid(s)
    expected = (p * (p / q).log() + (1 - p) * ((1 - p) / (1 - q)).log()).mean()
    torch.testing.assert_close(bernoulli_kl(s, t), expected)


def test_sampled_layers_and_bad_input():
    loss = AdaptiveLayerCrossEncoderLoss(None, n_layers_per_step=2, rng=random.Random(0))
    drawn = loss.sample_layers(range(1, 6))
    assert len(drawn) == 2 and drawn == sorted(drawn) and set(drawn) <= set(range(1, 6))
    assert AdaptiveLayerCrossEncoderLoss(None).sample_layers(range(1, 6)) == [1, 2, 3, 4, 5]
    with pytest.raises(LossError, match="labels in"):
        loss.compute_loss_from_logits({1: torch.zeros(2), 2: torch.zeros(2)}, torch.tensor([0.0, 5.0]))
    with pytest.raises(ValueError, match="distill"):
        AdaptiveLayerCrossEncoderLoss(None, distill="cosine")
    assert LOSSES["adaptive_layer_ce"] is AdaptiveLayerCrossEncoderLoss
    assert loss.config["head"] == "shared" and "Xin" in loss.citations[0]


def _train(ce: CrossEncoder, loss, pairs, labels, steps: int = 60) -> None:
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(ce.parameters(), lr=3e-3)
    ce.train()
    for step in range(steps):
        idx = [(step * 16 + i) % len(pairs) for i in range(16)]
        value = loss(ce.tokenize([pairs[i] for i in idx]), labels[idx])
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    ce.eval()


def _toy_task():
    """Label 1 when the second text mentions a dog: learnable by one layer."""
    rng = random.Random(0)
    words = ["man", "woman", "child", "cat", "car", "horse", "book", "guitar", "park", "street", "water", "beach"]
    pairs, labels = [], []
    for i in range(96):
        tail = rng.sample(words, 3) + (["dog"] if i % 2 else [])
        rng.shuffle(tail)
        pairs.append((" ".join(rng.sample(words, 3)), " ".join(tail)))
        labels.append(float(i % 2))
    return pairs, torch.tensor(labels)


def test_adaptive_training_puts_every_depth_on_one_scale(tiny_ce_dir):
    """One threshold (0.5) classifies at every depth after adaptive training; after plain BCE the
    shallow cut's scores sit on another scale. Costs about 2 s."""
    pairs, labels = _toy_task()
    accuracy = {}
    for variant in ("plain", "adaptive"):
        torch.manual_seed(0)
        ce = CrossEncoder.from_pretrained(tiny_ce_dir)
        for module in ce.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        loss = (AdaptiveLayerCrossEncoderLoss(ce) if variant == "adaptive"
                else LOSSES["BinaryCrossEntropyLoss"](ce))
        _train(ce, loss, pairs, labels)
        accuracy[variant] = [threshold_accuracy(ce.predict(pairs, layer=k), labels)
                             for k in (1, 2, 3)]
    assert min(accuracy["adaptive"]) >= 0.95, accuracy
    assert accuracy["plain"][0] < 0.8, accuracy  # the plain reranker's cut is off-scale
    assert accuracy["plain"][2] >= 0.95, accuracy



def test_head_learns_at_its_own_rate_and_the_variant_picks_the_pooling(tiny_ce_dir):
    from workbench.losses.adaptive_layer_ce import HEAD_LR_SCALE, reranker_loss, reranker_pooling
    from workbench.training import TrainConfig
    from workbench.training.optim import make_optimizer

    ce = CrossEncoder.from_pretrained(tiny_ce_dir, pooling=reranker_pooling("adaptive"))
    assert ce.pooling == "segments" and reranker_pooling("plain") == "cls"
    assert reranker_pooling("adaptive", "cls") == "cls"
    loss = reranker_loss(ce, "adaptive")
    head = {id(p) for p in loss.head_parameters()}
    assert head == {id(p) for m in (ce.model.bert.pooler, ce.model.classifier) for p in m.parameters()}
    optimizer = make_optimizer(loss, TrainConfig(output_dir=None, learning_rate=1e-4))
    rates = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert [rates[i] for i in head] == pytest.approx([1e-4 * HEAD_LR_SCALE] * len(head))
    assert {r for i, r in rates.items() if i not in head} == {1e-4}
    assert len(rates) == len(list(ce.parameters()))  # every parameter once
    plain = make_optimizer(reranker_loss(ce, "plain"), TrainConfig(output_dir=None, learning_rate=1e-4))
    assert {g["lr"] for g in plain.param_groups} == {1e-4}
    assert loss.config["pooling"] == "segments" and loss.config["head_lr_scale"] == HEAD_LR_SCALE


def test_prior_layers_use_the_adaptive_layer_weightings():
    from workbench.losses.adaptive_layer import layer_weight

    labels = torch.tensor([1.0, 0.0])
    logits = {1: torch.tensor([0.5, 0.2]), 2: torch.tensor([-0.3, 0.1]), 3: torch.tensor([1.0, -1.0])}
    uniform = AdaptiveLayerCrossEncoderLoss(None, distill_weight=0.0, last_layer_weight=0.0)
    linear = AdaptiveLayerCrossEncoderLoss(None, distill_weight=0.0, last_layer_weight=0.0,
                                           layer_weighting="linear")
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = sum(bce(logits[k], labels) * layer_weight(k, "linear") for k in (1, 2)) / 2
    torch.testing.assert_close(linear.compute_loss_from_logits(logits, labels), expected)
    assert not torch.allclose(uniform.compute_loss_from_logits(logits, labels), expected)
    with pytest.raises(ValueError, match="layer_weighting"):
        AdaptiveLayerCrossEncoderLoss(None, layer_weighting="cubic")
