"""BinaryCrossEntropyLoss for the cross-encoder: one logit per pair against a (soft) label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from workbench.losses.base import (
    SBERT_CITATION,
    LossError,
    check_finite,
    check_labels,
    pair_features,
)


class BinaryCrossEntropyLoss(nn.Module):
    """``loss = mean_i -[w * y_i log sigmoid(z_i) + (1 - y_i) log(1 - sigmoid(z_i))]``.

    ``z_i`` is the cross-encoder's logit for pair ``i``, ``y_i`` in [0, 1] a hard (0/1) or soft
    label (the STSB score divided by 5), ``w`` the optional ``pos_weight``. Same as
    ``torch.nn.BCEWithLogitsLoss`` and sentence-transformers' cross-encoder BinaryCrossEntropyLoss.

    Args:
        model: a ``workbench.models.cross_encoder.CrossEncoder`` (``forward(features) -> logits``).
        pos_weight: weight of the positive term (e.g. #negatives / #positives); ``None`` = 1.

    References: Nogueira & Cho 2019, "Passage Re-ranking with BERT", https://arxiv.org/abs/1901.04085.

    Inputs: the tokenised pairs (``model.tokenize(pairs)``), one dict or a one-element list;
    labels: one score per pair in [0, 1].

    Cost: one cross-encoder forward over the B pairs.
    """

    columns = (2, 2)
    label_range = (0.0, 1.0)
    citation = SBERT_CITATION

    def __init__(self, model: nn.Module | None, pos_weight: float | None = None) -> None:
        super().__init__()
        self.model = model
        self.pos_weight = None if pos_weight is None else float(pos_weight)

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def citations(self) -> list[str]:
        return [self.citation]

    @property
    def config(self) -> dict[str, Any]:
        return {"activation_fn": "torch.nn.modules.linear.Identity", "pos_weight": self.pos_weight}

    def forward(self, features: dict[str, Tensor] | Sequence[dict[str, Tensor]],
                labels: Tensor) -> Tensor:
        features = pair_features(self.name, features)
        return self.compute_loss_from_logits(self.model(features), labels)

    def compute_loss_from_logits(self, logits: Tensor, labels: Tensor) -> Tensor:
        """``logits`` (B,) or (B, 1), ``labels`` (B,) in [0, 1]."""
        if logits.ndim == 2 and logits.shape[-1] != 1:
            raise LossError(f"{self.name} needs one logit per pair, got shape {tuple(logits.shape)}")
        logits = logits.reshape(-1)
        check_finite(self.name, "logits", logits)
        labels = check_labels(self.name, labels, logits.shape[0], self.label_range)
        weight = None if self.pos_weight is None else logits.new_tensor(self.pos_weight)
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits), pos_weight=weight)

    def compute_loss_from_embeddings(self, embeddings: Sequence[Tensor], labels: Tensor) -> Tensor:
        """The shared Loss API: ``embeddings = [logits]`` (a cross-encoder's "embedding" is its logit)."""
        if len(embeddings) != 1:
            raise LossError(f"{self.name} takes one tensor of logits, got {len(embeddings)}")
        return self.compute_loss_from_logits(embeddings[0], labels)
