"""MultipleNegativesRankingLoss: InfoNCE with in-batch negatives (Henderson et al. 2017)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.losses.base import EmbeddingLoss, LossError, check_embeddings

CITATION = """@misc{henderson2017efficient,
    title={Efficient Natural Language Response Suggestion for Smart Reply},
    author={Matthew Henderson and Rami Al-Rfou and Brian Strope and Yun-hsuan Sung and Laszlo Lukacs and Ruiqi Guo and Sanjiv Kumar and Balint Miklos and Ray Kurzweil},
    year={2017},
    eprint={1705.00652},
    archivePrefix={arXiv},
    primaryClass={cs.CL}
}"""


def cos_sim(a: Tensor, b: Tensor) -> Tensor:
    """All-pairs cosine similarity, (len(a), len(b))."""
    return F.normalize(a, p=2, dim=-1) @ F.normalize(b, p=2, dim=-1).T


class MultipleNegativesRankingLoss(EmbeddingLoss):
    """In-batch softmax ranking: each anchor must pick its own positive among all candidates.

    ``loss = -mean_i log( exp(s * cos(a_i, p_i)) / sum_c exp(s * cos(a_i, c)) )`` where ``c`` runs
    over every positive AND every hard negative in the batch (B * (n_columns - 1) candidates), as in
    sentence-transformers 6.2 with its defaults (``directions=("query_to_doc",)``, joint softmax).

    Args:
        model: a ``BiEncoder``.
        scale: inverse temperature ``s`` (20 = temperature 0.05).

    References: Henderson et al. 2017, https://arxiv.org/abs/1705.00652 (also InfoNCE, van den Oord
    et al. 2018). Use the ``no_duplicates`` sampler so no candidate is a copy of the positive.

    Inputs: (anchor, positive) or (anchor, positive, negative_1, ..., negative_n); labels ignored.

    Cost: one encoder forward per column; a (B, B * (n_columns - 1)) similarity matrix.
    """

    columns = (2, None)
    citation = CITATION

    def __init__(self, model: nn.Module | None, scale: float = 20.0) -> None:
        super().__init__(model)
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.scale = float(scale)

    @property
    def config(self) -> dict[str, Any]:
        return {"scale": self.scale, "similarity_fct": "cos_sim"}

    def compute_loss_from_embeddings(self, embeddings: Sequence[Tensor],
                                     labels: Tensor | None = None) -> Tensor:
        """``embeddings[0]`` anchors, ``embeddings[1]`` positives, the rest hard negatives."""
        if len(embeddings) < 2:
            raise LossError(f"{self.name} expects at least 2 text columns, got {len(embeddings)}")
        check_embeddings(self.name, embeddings)
        anchors, candidates = embeddings[0], torch.cat(list(embeddings[1:]), dim=0)
        scores = cos_sim(anchors, candidates) * self.scale
        target = torch.arange(anchors.shape[0], device=anchors.device)
        return F.cross_entropy(scores, target)
