"""Matryoshka2dLoss: AdaptiveLayerLoss over MatryoshkaLoss, fewer layers AND fewer dims (2DMSE)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from torch import nn

from workbench.losses.adaptive_layer import AdaptiveLayerLoss
from workbench.losses.base import LI_2D_CITATION, EmbeddingLoss, Sampler
from workbench.losses.matryoshka import MatryoshkaLoss


class Matryoshka2dLoss(AdaptiveLayerLoss):
    """``AdaptiveLayerLoss(MatryoshkaLoss(loss, dims))``: each trained layer at sampled dims.

    Per step: the last layer at ``n_dims_per_step`` sampled dims, then ``n_layers_per_step``
    sampled prior layers, each at freshly sampled dims, plus the KL of each prior layer's full-width
    embedding to the last layer's (detached). Draws happen in sentence-transformers' order (last
    layer's dims, the layers, each layer's dims), so seeding ``random`` reproduces its samples.
    Defaults follow the reference and 2DMSE: ``n_layers_per_step=1``, ``n_dims_per_step=1``.

    Args:
        model: a ``BiEncoder``. loss: the base loss (CoSENTLoss in seed 002, MNRL, ...).
        matryoshka_dims, matryoshka_weights, n_dims_per_step: as in ``MatryoshkaLoss``.
        n_layers_per_step, last_layer_weight, prior_layers_weight, kl_div_weight, kl_temperature,
        layer_weighting, legacy, include_embedding_layer: as in ``AdaptiveLayerLoss``.
        rng: shared by both samplers; None = Python's global ``random``.

    References: Li et al. 2024, https://arxiv.org/abs/2402.14776; Kusupati et al. 2022.

    Cost: one encoder forward per column (all hidden states); the base loss runs
    (1 + n_layers_per_step) * n_dims_per_step times on slices.
    """

    citation = LI_2D_CITATION

    def __init__(self, model: nn.Module | None, loss: EmbeddingLoss, matryoshka_dims: Sequence[int],
                 matryoshka_weights: Sequence[float] | None = None, n_layers_per_step: int = 1,
                 n_dims_per_step: int = 1, last_layer_weight: float = 1.0,
                 prior_layers_weight: float = 1.0, kl_div_weight: float = 1.0,
                 kl_temperature: float = 0.3,
                 layer_weighting: Literal["uniform", "log", "linear"] = "uniform",
                 legacy: bool = False, include_embedding_layer: bool = True,
                 rng: Sampler | None = None) -> None:
        matryoshka = MatryoshkaLoss(model, loss, matryoshka_dims, matryoshka_weights,
                                    n_dims_per_step=n_dims_per_step, rng=rng)
        super().__init__(model, matryoshka, n_layers_per_step=n_layers_per_step,
                         last_layer_weight=last_layer_weight,
                         prior_layers_weight=prior_layers_weight, kl_div_weight=kl_div_weight,
                         kl_temperature=kl_temperature, layer_weighting=layer_weighting,
                         legacy=legacy, include_embedding_layer=include_embedding_layer, rng=rng)

    @property
    def config(self) -> dict[str, Any]:
        """As the seed card 002: the adaptive keys, then Matryoshka's (its "loss" = the base loss)."""
        return {**super().config, **self.loss.config}
