"""CoSENTLoss: rank pair similarities in the order of their gold scores (Su 2022)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.losses.base import (
    EmbeddingLoss,
    check_columns,
    check_embeddings,
    check_labels,
)

CITATION = """@online{kexuefm-8847,
    title={CoSENT: A more efficient sentence vector scheme than Sentence-BERT},
    author={Su Jianlin},
    year={2022},
    month={Jan},
    url={https://kexue.fm/archives/8847},
}"""


def pairwise_cos_sim(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise cosine similarity, (B,)."""
    return (F.normalize(a, p=2, dim=-1) * F.normalize(b, p=2, dim=-1)).sum(-1)


class CoSENTLoss(EmbeddingLoss):
    """Every pair with a higher gold score must get a higher cosine than every lower-scored pair.

    ``loss = log(1 + sum_{(i,j): y_i > y_j} exp(s * (cos_j - cos_i)))``; only the order of the
    labels matters, ties add nothing.

    Args:
        model: a ``BiEncoder``.
        scale: inverse temperature ``s``.

    References: Su Jianlin 2022, https://kexue.fm/archives/8847; Huang et al. 2024 (TASLP).

    Inputs: (sentence1, sentence2) pairs; labels: one similarity score per pair in [-1, 1]
    (STSB scores normalised to [0, 1] fit).

    Cost: one encoder forward per column; a (B, B) matrix of score differences.
    """

    columns = (2, 2)
    label_range = (-1.0, 1.0)
    citation = CITATION

    def __init__(self, model: nn.Module | None, scale: float = 20.0) -> None:
        super().__init__(model)
        self.scale = float(scale)

    @property
    def config(self) -> dict[str, Any]:
        return {"scale": self.scale, "similarity_fct": "pairwise_cos_sim"}

    def compute_loss_from_embeddings(self, embeddings: Sequence[Tensor],
                                     labels: Tensor | None) -> Tensor:
        """``embeddings = [sentence1 (B, H), sentence2 (B, H)]``, ``labels (B,)``."""
        check_columns(self.name, len(embeddings), self.columns)
        check_embeddings(self.name, embeddings)
        scores = pairwise_cos_sim(embeddings[0], embeddings[1])
        if scores.dtype in (torch.float16, torch.bfloat16):
            scores = scores.float()  # exp of score gaps overflows in half precision
        scores = scores * self.scale
        labels = check_labels(self.name, labels, scores.shape[0], self.label_range)
        labels = labels.to(scores.device)
        higher = labels[:, None] > labels[None, :]  # (i, j): pair i must outrank pair j
        diffs = (scores[None, :] - scores[:, None])[higher]
        return torch.logsumexp(torch.cat([scores.new_zeros(1), diffs]), dim=0)
