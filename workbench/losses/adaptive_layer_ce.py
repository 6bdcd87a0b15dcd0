"""AdaptiveLayerCrossEncoderLoss: a reranker whose every depth is a usable, calibrated reranker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.losses.adaptive_layer import WEIGHTINGS, layer_weight
from workbench.losses.base import (
    LI_2D_CITATION,
    LossError,
    Sampler,
    check_finite,
    check_labels,
    pair_features,
    resolve_rng,
    sample_indices,
)
from workbench.losses.starbucks import CITATION as STARBUCKS_CITATION

XIN_CITATION = """@inproceedings{xin-etal-2020-early,
    title = "Early Exiting {BERT} for Efficient Document Ranking",
    author = "Xin, Ji and Nogueira, Rodrigo and Yu, Yaoliang and Lin, Jimmy",
    booktitle = "Proceedings of SustaiNLP: Workshop on Simple and Efficient Natural Language Processing",
    year = "2020",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2020.sustainlp-1.11",
}"""


DISTILLS = ("kl", "mse")
HEAD_LR_SCALE = 40.0
"""Adaptive default: the new head learns at 40x the encoder's rate (2e-3 at 5e-5)."""


def bernoulli_kl(student: Tensor, teacher: Tensor) -> Tensor:
    """``mean_i KL(Bern(sigmoid(t_i)) || Bern(sigmoid(s_i)))`` from logits; 0 iff ``s = t``.

    Equals ``BCE(s, sigmoid(t)) - H(sigmoid(t))``: its gradient in ``s`` is
    ``sigmoid(s) - sigmoid(t)``, the same form and scale as the label term's.
    """
    target = torch.sigmoid(teacher)
    entropy = F.binary_cross_entropy_with_logits(teacher, target, reduction="none")
    cross = F.binary_cross_entropy_with_logits(student, target, reduction="none")
    return (cross - entropy).mean()


class AdaptiveLayerCrossEncoderLoss(nn.Module):
    """BCE on the shared head at every depth, plus a pull of each depth towards the last.

    ``loss = w_last * BCE(z_L, y)
             + w_prior / |S| * sum_{k in S} c_k * [BCE(z_k, y) + w_d * D(z_k, sg(z_L))]``

    ``z_k`` is the ONE shared head on layer ``k``'s pooled states, i.e. exactly the logit of the
    reranker cut to its first ``k`` blocks. What the head reads is the model's
    ``classifier_pooling``: ``"segments"`` (the adaptive default: a weighted cosine of the two
    texts' mean states, :mod:`workbench.models.segment_pooling`), ``"mean"`` (the mean of the
    pair's token states, then BERT's pooler dense + tanh + classifier) or ``"cls"``. Why
    segments: in all-MiniLM-L6-v2 the first layers' ``[CLS]`` hardly depends on the pair (exits
    1-3 at 0.03 / 0.00 / 0.09 STSB Spearman after one epoch); a head on the pair's token mean
    learns from layer 3 on but stays at 0.27 after one block, which mixes the two texts too
    little for a pooled state to say how alike they are; comparing the texts' states directly
    scores 0.58 after one block and 0.79 at full depth (docs/results.md). A cut model is then
    Transformer -> SegmentPooling -> Dense, which sentence-transformers >= 6 loads as a
    ``CrossEncoder`` with ``trust_remote_code=True`` (``workbench.models.st_pooled_head``).

    ``S`` = layers ``1..L-1`` (``n_layers_per_step=-1``, the default: the forward computes every
    layer anyway, each extra exit costs one head) or ``n_layers_per_step`` of them drawn with
    ``rng.sample`` (as AdaptiveLayerLoss draws; the helper is shared). ``c_k`` =
    :func:`workbench.losses.adaptive_layer.layer_weight` (``uniform`` | ``log`` | ``linear``, the
    AdaptiveLayerLoss weightings). ``sg`` = stop-gradient: the last layer teaches and is never
    pulled towards weaker layers, so full depth trains as the plain reranker does.

    ``D`` (``distill``): ``"kl"`` (default) = Bernoulli KL between the per-pair probabilities
    ``sigmoid(z_L)`` and ``sigmoid(z_k)``; ``"mse"`` = ``(z_k - z_L)^2`` on logits. Why a pointwise
    term and not the in-batch softmax KL of AdaptiveLayerLoss: a softmax is blind to a shift of
    all logits, so it cannot align the *scale* of the scores; a pointwise pull to the last
    layer's score (and the same BCE target at every depth) puts every depth on one scale, so one
    threshold works at any depth. KL is the default because its gradient is bounded and in the
    label term's units (MSE grows with the logit gap).

    ``head_lr_scale``: the head (new, random) learns at this multiple of the encoder's learning
    rate (``parameter_lr_scales``, read by ``training.optim.make_optimizer``). With the encoder's
    5e-5 a random head moves too little in one STSB epoch (90 steps) for the shallow exits,
    whose features it must find alone; at 40x the 3-layer exit crosses 0.70 (docs/results.md).

    Args:
        model: a ``workbench.models.cross_encoder.CrossEncoder``.
        n_layers_per_step: prior layers per step; -1 = all.
        last_layer_weight, prior_layers_weight: ``w_last``, ``w_prior``.
        distill: ``"kl"`` or ``"mse"``. distill_weight: ``w_d`` (0 disables the pull).
        layer_weighting: ``c_k``, one of ``WEIGHTINGS``.
        pos_weight: BCE weight of the positive term at every depth; ``None`` = 1.
        head_lr_scale: learning-rate multiple of the head's parameters (1 = as the encoder).
        rng: anything with ``sample(population, k)``; None = Python's global ``random``.

    References: Xin et al. 2020, Early Exiting BERT for Efficient Document Ranking (a ranking
    head on every layer); Li et al. 2024, 2D Matryoshka Sentence Embeddings, and
    sentence-transformers' AdaptiveLayerLoss (every layer an exit, a detached last-layer
    teacher); Zhuang et al. 2024, Starbucks (every shallow sub-network trained each step
    rather than sampled, with a KL to the full model).

    Inputs: the tokenised pairs (``model.tokenize(pairs)``); labels in [0, 1], one per pair.

    Cost: one cross-encoder forward keeping every layer's states, pooling and the head
    ``|S| + 1`` times; the backward reaches every layer.
    """

    columns = (2, 2)
    label_range = (0.0, 1.0)
    citation = XIN_CITATION

    def __init__(self, model: nn.Module | None, n_layers_per_step: int = -1,
                 last_layer_weight: float = 1.0, prior_layers_weight: float = 1.0,
                 distill: Literal["kl", "mse"] = "kl", distill_weight: float = 1.0,
                 layer_weighting: Literal["uniform", "log", "linear"] = "uniform",
                 pos_weight: float | None = None, head_lr_scale: float = 1.0,
                 rng: Sampler | None = None) -> None:
        super().__init__()
        if distill not in DISTILLS:
            raise ValueError(f"distill must be one of {DISTILLS}, got {distill!r}")
        if layer_weighting not in WEIGHTINGS:
            raise ValueError(f"layer_weighting must be one of {WEIGHTINGS}, got {layer_weighting!r}")
        if not head_lr_scale > 0:
            raise ValueError(f"head_lr_scale must be > 0, got {head_lr_scale!r}")
        self.model = model
        self.n_layers_per_step = n_layers_per_step
        self.last_layer_weight = last_layer_weight
        self.prior_layers_weight = prior_layers_weight
        self.distill = distill
        self.distill_weight = distill_weight
        self.layer_weighting = layer_weighting
        self.pos_weight = None if pos_weight is None else float(pos_weight)
        self.head_lr_scale = float(head_lr_scale)
        self.rng = rng

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def citations(self) -> list[str]:
        return [self.citation, LI_2D_CITATION, STARBUCKS_CITATION]

    @property
    def config(self) -> dict[str, Any]:
        return {"loss": "BinaryCrossEntropyLoss", "n_layers_per_step": self.n_layers_per_step,
                "last_layer_weight": self.last_layer_weight,
                "prior_layers_weight": self.prior_layers_weight, "distill": self.distill,
                "distill_weight": self.distill_weight, "layer_weighting": self.layer_weighting,
                "pos_weight": self.pos_weight, "head_lr_scale": self.head_lr_scale,
                "head": "shared", "pooling": self._pooling()}

    def _pooling(self) -> str | None:
        return None if self.model is None else self.model.pooling

    def head_parameters(self) -> list[nn.Parameter]:
        """The shared head's parameters: BERT's pooler and classifier (or a RoBERTa-style
        ``ClassificationHead``), i.e. what a cut model keeps besides its blocks."""
        hf = self.model.model
        modules = [getattr(hf.base_model, "pooler", None), getattr(hf, "classifier", None),
                   getattr(hf, "pre_classifier", None)]
        return [p for m in modules if m is not None for p in m.parameters()]

    def parameter_lr_scales(self) -> dict[int, float]:
        """``{id(parameter): learning-rate multiple}`` for ``make_optimizer`` (others: 1)."""
        if self.model is None or self.head_lr_scale == 1.0:
            return {}
        return {id(p): self.head_lr_scale for p in self.head_parameters()}

    def sample_layers(self, candidates: Sequence[int]) -> list[int]:
        """The prior layers trained this step (all of them when ``n_layers_per_step <= 0``)."""
        return sample_indices(resolve_rng(self.rng), candidates, self.n_layers_per_step, sort=True)

    def forward(self, features: dict[str, Tensor] | Sequence[dict[str, Tensor]],
                labels: Tensor) -> Tensor:
        features = pair_features(self.name, features)
        depth = self.model.num_layers
        layers = [*self.sample_layers(range(1, depth)), depth]
        return self.compute_loss_from_logits(self.model.forward_layers(features, layers), labels)

    def _bce(self, logits: Tensor, labels: Tensor) -> Tensor:
        weight = None if self.pos_weight is None else logits.new_tensor(self.pos_weight)
        return F.binary_cross_entropy_with_logits(logits, labels, pos_weight=weight)

    def _pull(self, student: Tensor, teacher: Tensor) -> Tensor:
        if self.distill == "mse":
            return F.mse_loss(student, teacher)
        return bernoulli_kl(student, teacher)

    def compute_loss_from_logits(self, logits: dict[int, Tensor], labels: Tensor) -> Tensor:
        """``logits = {layer: (B,)}``; the deepest key is the teacher (its gradient is cut)."""
        if not isinstance(logits, dict) or not logits:
            raise LossError(f"{self.name} takes {{layer: logits}}, got {type(logits).__name__}")
        last = max(logits)
        flat = {k: v.reshape(-1).float() for k, v in logits.items()}
        for k, v in flat.items():
            check_finite(self.name, f"logits of layer {k}", v)
        labels = check_labels(self.name, labels, flat[last].shape[0], self.label_range)
        labels = labels.to(flat[last])
        loss = self._bce(flat[last], labels) * self.last_layer_weight
        prior = sorted(k for k in flat if k < last)
        teacher = flat[last].detach()
        for k in prior:
            scale = layer_weight(k, self.layer_weighting)
            term = self._bce(flat[k], labels)
            if self.distill_weight:
                term = term + self._pull(flat[k], teacher) * self.distill_weight
            loss = loss + term * scale * self.prior_layers_weight / len(prior)
        return loss

    def compute_loss_from_embeddings(self, embeddings: Sequence[dict[int, Tensor]],
                                     labels: Tensor) -> Tensor:
        """The shared Loss API: ``embeddings = [{layer: logits}]``."""
        if len(embeddings) != 1:
            raise LossError(f"{self.name} takes one {{layer: logits}} dict, got {len(embeddings)}")
        return self.compute_loss_from_logits(embeddings[0], labels)


VARIANTS = ("plain", "adaptive")


def reranker_loss(model: nn.Module, variant: str = "plain", pos_weight: float | None = None,
                  **adaptive: Any) -> nn.Module:
    """The reranker experiment's loss: ``"plain"`` BCE on the last layer, or ``"adaptive"``
    (:class:`AdaptiveLayerCrossEncoderLoss` with ``adaptive`` keyword arguments; the head's
    learning-rate multiple defaults to ``HEAD_LR_SCALE``)."""
    from workbench.losses.bce import BinaryCrossEntropyLoss

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant == "plain":
        return BinaryCrossEntropyLoss(model, pos_weight=pos_weight)
    adaptive.setdefault("head_lr_scale", HEAD_LR_SCALE)
    return AdaptiveLayerCrossEncoderLoss(model, pos_weight=pos_weight, **adaptive)


def reranker_pooling(variant: str, pooling: str = "auto") -> str:
    """What the head reads: ``pooling`` if given, else ``"segments"`` for the adaptive variant
    (its shallow exits need it, see :class:`AdaptiveLayerCrossEncoderLoss`) and ``"cls"`` for
    plain (Hugging Face's and sentence-transformers' default head)."""
    if pooling != "auto":
        return pooling
    return "segments" if variant == "adaptive" else "cls"
