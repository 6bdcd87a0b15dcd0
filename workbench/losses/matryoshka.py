"""MatryoshkaLoss: the base loss on leading slices of the embedding (Kusupati et al. 2022)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from workbench.losses.base import (
    EmbeddingLoss,
    LossError,
    Sampler,
    last_layer,
    resolve_rng,
    sample_indices,
)
from workbench.models.bi_encoder import truncate

CITATION = """@misc{kusupati2024matryoshka,
    title={Matryoshka Representation Learning},
    author={Aditya Kusupati and Gantavya Bhatt and Aniket Rege and Matthew Wallingford and Aditya Sinha and Vivek Ramanujan and William Howard-Snyder and Kaifeng Chen and Sham Kakade and Prateek Jain and Ali Farhadi},
    year={2024},
    eprint={2205.13147},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}"""


class MatryoshkaLoss(EmbeddingLoss):
    """``loss = sum_{d in D} w_d * base_loss(normalize(e[:, :d]))``: every prefix must work alone.

    Dimensions are sorted largest first (weights follow). With ``n_dims_per_step = k > 0`` only
    ``k`` dimensions, drawn by ``rng.sample`` and visited in sorted order, are used each step, as in
    sentence-transformers (which draws with Python's global ``random``; so does ``rng=None``).

    Args:
        model: a ``BiEncoder``.
        loss: the base loss (MultipleNegativesRankingLoss, CoSENTLoss, ...).
        matryoshka_dims: e.g. [768, 512, 256, 128, 64].
        matryoshka_weights: one weight per dim (default all 1).
        n_dims_per_step: dims used per step; -1 = all.
        rng: anything with ``sample(population, k)``, for seeded or fixed draws in tests.

    References: Kusupati et al. 2022, https://arxiv.org/abs/2205.13147.

    Inputs: whatever the base loss takes.

    Cost: one encoder forward per column (slices are free); the base loss runs once per dim.
    """

    citation = CITATION

    def __init__(self, model: nn.Module | None, loss: EmbeddingLoss, matryoshka_dims: Sequence[int],
                 matryoshka_weights: Sequence[float] | None = None, n_dims_per_step: int = -1,
                 rng: Sampler | None = None) -> None:
        super().__init__(model)
        if not matryoshka_dims or any(int(d) <= 0 for d in matryoshka_dims):
            raise ValueError(f"matryoshka_dims must be positive ints, got {list(matryoshka_dims)}")
        weights = [1] * len(matryoshka_dims) if matryoshka_weights is None else list(matryoshka_weights)
        if len(weights) != len(matryoshka_dims):
            raise ValueError("matryoshka_weights must be as long as matryoshka_dims")
        width = getattr(model, "hidden_size", None)
        if width is not None and max(matryoshka_dims) > width:
            raise ValueError(f"matryoshka_dims {list(matryoshka_dims)} exceed the model's {width} dims")
        pairs = sorted(zip(matryoshka_dims, weights, strict=True), key=lambda p: p[0], reverse=True)
        self.loss = loss
        self.matryoshka_dims = tuple(int(d) for d, _ in pairs)
        self.matryoshka_weights = tuple(w for _, w in pairs)
        self.n_dims_per_step = n_dims_per_step
        self.rng = rng  # None: the global `random`, resolved per draw so the loss stays picklable
        self.columns = loss.columns
        self.label_range = loss.label_range

    @property
    def config(self) -> dict[str, Any]:
        return {"loss": self.loss.name, "matryoshka_dims": list(self.matryoshka_dims),
                "matryoshka_weights": list(self.matryoshka_weights),
                "n_dims_per_step": self.n_dims_per_step}

    def sample_dims(self) -> list[int]:
        """Indices into ``matryoshka_dims`` used this step (sorted, so largest dim first)."""
        return sample_indices(resolve_rng(self.rng), range(len(self.matryoshka_dims)), self.n_dims_per_step,
                              sort=True)

    def compute_loss_from_embeddings(self, embeddings: Sequence[Tensor | dict[int, Tensor]],
                                     labels: Tensor | None) -> Tensor:
        """Full-width embeddings per column (a ``{layer: tensor}`` dict gives its last layer)."""
        columns = last_layer(embeddings)
        width = columns[0].shape[-1]
        if max(self.matryoshka_dims) > width:
            raise LossError(f"{self.name}: matryoshka_dims {list(self.matryoshka_dims)} exceed the "
                            f"embedding width {width}")
        total: Tensor | float = 0.0
        for idx in self.sample_dims():
            dim, weight = self.matryoshka_dims[idx], self.matryoshka_weights[idx]
            sliced = [truncate(e, dim) for e in columns]
            total = total + weight * self.loss.compute_loss_from_embeddings(sliced, labels)
        return total
