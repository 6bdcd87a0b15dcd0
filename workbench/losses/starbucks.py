"""StarbucksLoss: a fixed list of (layer, dim) sizes, every one trained every step (SRL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from workbench.losses.base import EmbeddingLoss, LossError, cat_columns
from workbench.models.bi_encoder import truncate

CITATION = """@misc{zhuang2024starbucks,
    title={Starbucks: Improved Training for 2D Matryoshka Embeddings},
    author={Shengyao Zhuang and Shuai Wang and Bevan Koopman and Guido Zuccon},
    year={2024},
    eprint={2410.13230},
    archivePrefix={arXiv},
    primaryClass={cs.IR}
}"""


def starbucks_schedule(num_layers: int, hidden_size: int, max_sizes: int = 6) -> list[tuple[int, int]]:
    """Small-to-large (layer, dim) sizes: layers spread evenly up to the last, dims halving.

    The full width and the powers of two below it, so a 6-layer 768-dim model gets
    (1, 32), (2, 64), (3, 128), (4, 256), (5, 512), (6, 768) (the paper's 12-layer list
    is (2, 32) ... (12, 768)); a 3-layer 32-dim model gets (1, 8), (2, 16), (3, 32).
    """
    dims = [hidden_size]
    power = 1 << (hidden_size - 1).bit_length() - 1
    while len(dims) < max_sizes and power >= 1:
        if power < dims[-1]:
            dims.append(power)
        power //= 2
    count = min(num_layers, len(dims))
    layers = [max(1, round(num_layers * (i + 1) / count)) for i in range(count)]
    return list(zip(layers, reversed(dims[:count]), strict=True))


class StarbucksLoss(EmbeddingLoss):
    """``loss = sum_i w_i * L(e_{l_i}[:d_i]) + w_kl * T * sum_{i: (l_i, d_i) != (N, H)} KL_i``.

    Unlike 2DMSE's random draws, a fixed small-to-large list of (layer, dim) sizes is trained at
    every step (Starbucks Representation Learning). ``e_l[:d]`` is layer ``l``'s pooled embedding
    cut to ``d`` dims and re-normalised; ``KL_i = KL(softmax(t[:d_i] / T) || softmax(e[:d_i] / T))``
    with the teacher ``t`` = the last layer at full width, detached. (The reference code slices
    without re-normalising, divides by no temperature and does not detach the teacher.)

    Args:
        model: a ``BiEncoder``. loss: the base loss.
        layer_dims: the (layer, dim) sizes; default ``starbucks_schedule(num_layers, hidden_size)``.
        weights: one per size (default 1).
        kl_div_weight: ``w_kl``. kl_temperature: ``T``; 0 disables the KL terms.

    References: Zhuang et al. 2024, https://arxiv.org/abs/2410.13230.

    Cost: one encoder forward per column (hidden states of the listed layers pooled); the base
    loss runs once per size, every step: ``len(layer_dims)`` times a plain loss.
    """

    citation = CITATION

    def __init__(self, model: nn.Module | None, loss: EmbeddingLoss,
                 layer_dims: Sequence[tuple[int, int]] | None = None,
                 weights: Sequence[float] | None = None, kl_div_weight: float = 1.0,
                 kl_temperature: float = 0.3) -> None:
        super().__init__(model)
        if layer_dims is None:
            layer_dims = starbucks_schedule(model.num_layers, model.hidden_size)
        self.layer_dims = [(int(k), int(d)) for k, d in layer_dims]
        if not self.layer_dims or any(k < 0 or d < 1 for k, d in self.layer_dims):
            raise ValueError(f"layer_dims must be (layer >= 0, dim >= 1) pairs, got {self.layer_dims}")
        self.weights = [1.0] * len(self.layer_dims) if weights is None else list(weights)
        if len(self.weights) != len(self.layer_dims):
            raise ValueError("weights must be as long as layer_dims")
        self.loss = loss
        self.kl_div_weight = kl_div_weight
        self.kl_temperature = kl_temperature
        self.columns = loss.columns
        self.label_range = loss.label_range

    @property
    def config(self) -> dict[str, Any]:
        return {"loss": self.loss.name, "layer_dims": [list(p) for p in self.layer_dims],
                "weights": self.weights, "kl_div_weight": self.kl_div_weight,
                "kl_temperature": self.kl_temperature}

    def layers_needed(self) -> list[int]:
        return sorted({k for k, _ in self.layer_dims} | {self.model.num_layers})

    def kl(self, student: Tensor, teacher: Tensor, dim: int) -> Tensor:
        """``T * KL(softmax(teacher[:dim] / T) || softmax(student / T))``, batchmean."""
        target = F.softmax(truncate(teacher, dim) / self.kl_temperature, dim=-1).detach()
        log_p = F.log_softmax(student / self.kl_temperature, dim=-1)
        return F.kl_div(log_p, target, reduction="batchmean") * self.kl_temperature

    def compute_loss_from_embeddings(self, embeddings: Sequence[dict[int, Tensor]],
                                     labels: Tensor | None) -> Tensor:
        """One ``{layer: (B, H)}`` dict per column holding every listed layer and the last."""
        if not embeddings or not all(isinstance(e, dict) for e in embeddings):
            raise LossError(f"{self.name} takes one {{layer: tensor}} dict per column")
        last = max(embeddings[0])
        missing = {k for k, _ in self.layer_dims} - set(embeddings[0])
        if missing:
            raise LossError(f"{self.name}: layers {sorted(missing)} missing from the embeddings")
        teacher = cat_columns([e[last] for e in embeddings])
        width = teacher.shape[-1]
        loss: Tensor | float = 0.0
        for (layer, dim), weight in zip(self.layer_dims, self.weights, strict=True):
            cols = [truncate(e[layer], dim) for e in embeddings]
            loss = loss + weight * self.loss.compute_loss_from_embeddings(cols, labels)
            if self.kl_temperature > 0 and (layer, dim) != (last, width):
                loss = loss + self.kl(cat_columns(cols), teacher, dim) * self.kl_div_weight
        return loss
