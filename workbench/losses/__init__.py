"""Losses, one per file, each checked against sentence-transformers 6.2 (tests/losses/).

Pick one by name: ``LOSSES["CoSENTLoss"](model)``; wrappers take the base loss:
``LOSSES["Matryoshka2dLoss"](model, LOSSES["CoSENTLoss"](model), matryoshka_dims=[768, 512])``.
"""

from __future__ import annotations

from workbench.losses.adaptive_layer import AdaptiveLayerLoss
from workbench.losses.adaptive_layer_ce import AdaptiveLayerCrossEncoderLoss
from workbench.losses.base import EmbeddingLoss, LossError
from workbench.losses.bce import BinaryCrossEntropyLoss
from workbench.losses.cosent import CoSENTLoss
from workbench.losses.matryoshka import MatryoshkaLoss
from workbench.losses.matryoshka_2d import Matryoshka2dLoss
from workbench.losses.mnrl import MultipleNegativesRankingLoss
from workbench.losses.starbucks import StarbucksLoss, starbucks_schedule

LOSSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (MultipleNegativesRankingLoss, CoSENTLoss, BinaryCrossEntropyLoss, MatryoshkaLoss,
                AdaptiveLayerLoss, Matryoshka2dLoss, StarbucksLoss, AdaptiveLayerCrossEncoderLoss)
}
LOSSES["mnrl"] = MultipleNegativesRankingLoss
LOSSES["cosent"] = CoSENTLoss
LOSSES["bce"] = BinaryCrossEntropyLoss
LOSSES["matryoshka"] = MatryoshkaLoss
LOSSES["adaptive_layer"] = AdaptiveLayerLoss
LOSSES["adaptive_layer_ce"] = AdaptiveLayerCrossEncoderLoss
LOSSES["matryoshka_2d"] = Matryoshka2dLoss
LOSSES["starbucks"] = StarbucksLoss

__all__ = [
    "LOSSES", "AdaptiveLayerCrossEncoderLoss", "AdaptiveLayerLoss", "BinaryCrossEntropyLoss", "CoSENTLoss", "EmbeddingLoss",
    "LossError", "Matryoshka2dLoss", "MatryoshkaLoss", "MultipleNegativesRankingLoss",
    "StarbucksLoss", "starbucks_schedule",
]
