"""AdaptiveLayerLoss: the base loss on earlier layers too, distilled from the last (2DMSE/ESE)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch.nn.functional as F
from torch import Tensor, nn

from workbench.losses.base import (
    LI_2D_CITATION,
    EmbeddingLoss,
    LossError,
    Sampler,
    cat_columns,
    resolve_rng,
    sample_indices,
)

WEIGHTINGS = ("uniform", "log", "linear")


def layer_weight(layer: int, weighting: str) -> float:
    """Weight of prior layer ``layer`` (0 = embedding output): 1, 1/(1+ln(1+i)) or 1/(1+i)."""
    if weighting == "log":
        return 1.0 / (1.0 + math.log(1 + layer))
    if weighting == "linear":
        return 1.0 / (1 + layer)
    return 1.0


class AdaptiveLayerLoss(EmbeddingLoss):
    """Train every layer as an exit: last-layer loss + sampled prior-layer losses + KL to the last.

    ``loss = w_last * L(e_N) + w_prior / |S| * sum_{k in S} (c_k * L(e_k))
             + w_kl * T * sum_{k in S} KL(softmax(e_N / T) || softmax(e_k / T))``

    ``e_k`` is the pooled (normalised) output of layer ``k`` (``hidden_states[k]``; 0 = embedding
    output, N = last), all columns stacked for the KL. ``S`` = all prior layers 0..N-1
    (``n_layers_per_step=-1``) or ``n_layers_per_step`` of them drawn with ``rng.sample``. ``c_k``
    follows ``layer_weighting``. The last layer is the KL teacher and is detached.

    Defaults match sentence-transformers 6.2 (uniform ``c_k``, detached teacher). ``legacy=True``
    reproduces the published behaviour of ST <= 3.x (seed cards 000/001): ``c_k = 1/(1+k)``
    ("linear") and a teacher that also receives the KL gradient.

    Args:
        model: a ``BiEncoder``.
        loss: the base loss (or a MatryoshkaLoss: that is Matryoshka2dLoss).
        n_layers_per_step: prior layers per step; -1 = all (seed 000), 1 = one sampled (seed 001).
        last_layer_weight, prior_layers_weight: ``w_last``, ``w_prior``.
        kl_div_weight: ``w_kl``. kl_temperature: ``T``; 0 disables the KL term.
        layer_weighting: "uniform", "log" (ESE) or "linear".
        legacy: old ST behaviour, see above (forces "linear").
        include_embedding_layer: layer 0 is a candidate, as in ST; False samples from 1..N-1.
        rng: anything with ``sample(population, k)``; None = Python's global ``random`` like ST.

    References: Li et al. 2024, 2D Matryoshka Sentence Embeddings / ESE,
    https://arxiv.org/abs/2402.14776.

    Cost: one encoder forward per column with all hidden states kept, pooling of every layer
    (cheap); the base loss runs 1 + |S| times, the backward reaches every layer.
    """

    citation = LI_2D_CITATION

    def __init__(self, model: nn.Module | None, loss: EmbeddingLoss, n_layers_per_step: int = 1,
                 last_layer_weight: float = 1.0, prior_layers_weight: float = 1.0,
                 kl_div_weight: float = 1.0, kl_temperature: float = 0.3,
                 layer_weighting: Literal["uniform", "log", "linear"] = "uniform",
                 legacy: bool = False, include_embedding_layer: bool = True,
                 rng: Sampler | None = None) -> None:
        super().__init__(model)
        if layer_weighting not in WEIGHTINGS:
            raise ValueError(f"layer_weighting must be one of {WEIGHTINGS}, got {layer_weighting!r}")
        self.loss = loss
        self.n_layers_per_step = n_layers_per_step
        self.last_layer_weight = last_layer_weight
        self.prior_layers_weight = prior_layers_weight
        self.kl_div_weight = kl_div_weight
        self.kl_temperature = kl_temperature
        self.layer_weighting = "linear" if legacy else layer_weighting
        self.legacy = legacy
        self.include_embedding_layer = include_embedding_layer
        self.rng = rng  # None: the global `random`, resolved per draw
        self.columns = loss.columns
        self.label_range = loss.label_range

    @property
    def config(self) -> dict[str, Any]:
        return {"loss": self.loss.name, "n_layers_per_step": self.n_layers_per_step,
                "last_layer_weight": self.last_layer_weight,
                "prior_layers_weight": self.prior_layers_weight,
                "kl_div_weight": self.kl_div_weight, "kl_temperature": self.kl_temperature,
                "layer_weighting": self.layer_weighting, "legacy": self.legacy}

    def layers_needed(self) -> list[int]:
        first = 0 if self.include_embedding_layer else 1
        return list(range(first, self.model.num_layers + 1))

    def sample_layers(self, candidates: Sequence[int]) -> list[int]:
        """The prior layers trained this step (ST order: drawn after the last-layer loss)."""
        return sample_indices(resolve_rng(self.rng), candidates, self.n_layers_per_step)

    def kl(self, student: Tensor, teacher: Tensor) -> Tensor:
        """``T * KL(teacher || softmax(student / T))``, batchmean; ``teacher`` already a softmax."""
        log_p = F.log_softmax(student / self.kl_temperature, dim=-1)
        return F.kl_div(log_p, teacher, reduction="batchmean") * self.kl_temperature

    def compute_loss_from_embeddings(self, embeddings: Sequence[dict[int, Tensor]],
                                     labels: Tensor | None) -> Tensor:
        """One ``{layer: (B, H)}`` dict per column; the deepest key is the last layer."""
        if not embeddings or not all(isinstance(e, dict) for e in embeddings):
            raise LossError(f"{self.name} takes one {{layer: tensor}} dict per column")
        last = max(embeddings[0])
        if any(set(e) != set(embeddings[0]) for e in embeddings):
            raise LossError(f"{self.name}: every column needs the same layers")
        final = [e[last] for e in embeddings]
        loss = self.loss.compute_loss_from_embeddings(final, labels) * self.last_layer_weight
        teacher = None
        if self.kl_temperature > 0:
            teacher = F.softmax(cat_columns(final) / self.kl_temperature, dim=-1)
            teacher = teacher if self.legacy else teacher.detach()
        layers = self.sample_layers(sorted(k for k in embeddings[0] if k < last))
        for k in layers:
            cols = [e[k] for e in embeddings]
            weight = layer_weight(k, self.layer_weighting) / len(layers) * self.prior_layers_weight
            loss = loss + self.loss.compute_loss_from_embeddings(cols, labels) * weight
            if teacher is not None:
                loss = loss + self.kl(cat_columns(cols), teacher) * self.kl_div_weight
        return loss
