"""What every loss shares: the protocol, input checks, and seedable sampling of layers and dims.

A loss is an ``nn.Module`` whose ``forward(features, labels)`` embeds each text column with ONE
encoder forward (asking for every layer it needs at once), then hands the embeddings to
``compute_loss_from_embeddings``, which tests call with hand-made tensors.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import Tensor, nn

SBERT_CITATION = """@inproceedings{reimers-2019-sentence-bert,
    title = "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
    author = "Reimers, Nils and Gurevych, Iryna",
    booktitle = "Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing",
    month = "11",
    year = "2019",
    publisher = "Association for Computational Linguistics",
    url = "https://arxiv.org/abs/1908.10084",
}"""

LI_2D_CITATION = """@misc{li20242d,
    title={2D Matryoshka Sentence Embeddings},
    author={Xianming Li and Zongxi Li and Jing Li and Haoran Xie and Qing Li},
    year={2024},
    eprint={2402.14776},
    archivePrefix={arXiv},
    primaryClass={cs.CL}
}"""


class Sampler(Protocol):
    """Anything with ``sample(population, k)``: the ``random`` module, ``random.Random(seed)``, a stub."""

    def sample(self, population: Sequence[int], k: int) -> list[int]: ...


def resolve_rng(rng: Sampler | None) -> Sampler:
    """``None`` means Python's global ``random`` (what sentence-transformers samples with)."""
    return random if rng is None else rng


def sample_indices(rng: Sampler, population: Sequence[int], k: int, sort: bool = False) -> list[int]:
    """``k`` of ``population`` drawn by ``rng`` (all of them when ``k <= 0`` or ``k >= len``)."""
    population = list(population)
    if not 0 < k < len(population):
        return population
    picked = list(rng.sample(population, k))
    return sorted(picked) if sort else picked


class LossError(ValueError):
    """A loss input that would silently train on garbage (NaN, wrong columns, labels out of range)."""


class NonFiniteError(LossError):
    """Embeddings or labels holding NaN/inf (the training step turns it into a NaN loss)."""


def check_columns(name: str, n: int, columns: tuple[int, int | None]) -> None:
    """Raise unless ``n`` text columns fit ``columns = (min, max)`` (``max=None``: no upper bound)."""
    low, high = columns
    if n < low or (high is not None and n > high):
        want = f"exactly {low}" if low == high else f"at least {low}" if high is None \
            else f"{low} to {high}"
        raise LossError(f"{name} expects {want} text columns, got {n}")


def pair_features(name: str, features: dict[str, Tensor] | Sequence[dict[str, Tensor]]
                  ) -> dict[str, Tensor]:
    """A cross-encoder loss's input: the tokenised pairs as one dict (or a one-element list)."""
    if isinstance(features, dict):
        return features
    if len(features) != 1:
        raise LossError(f"{name} takes the tokenised pairs as ONE feature dict "
                        f"(model.tokenize(pairs)), got {len(features)} dicts")
    return features[0]


def check_finite(name: str, what: str, tensor: Tensor) -> None:
    """Raise naming ``what`` when ``tensor`` holds NaN or inf."""
    if not torch.isfinite(tensor).all():
        bad = int((~torch.isfinite(tensor)).sum())
        raise NonFiniteError(f"{name}: {what} contain {bad} NaN/inf values")


def check_embeddings(name: str, embeddings: Sequence[Tensor]) -> None:
    """Every column finite, 2-D, same batch size and width."""
    shapes = {tuple(e.shape) for e in embeddings}
    if any(e.ndim != 2 for e in embeddings) or len(shapes) != 1:
        raise LossError(f"{name}: columns must be (batch, dim) tensors of one shape, got {sorted(shapes)}")
    for i, emb in enumerate(embeddings):
        check_finite(name, f"embeddings of column {i}", emb)


def check_labels(name: str, labels: Tensor | None, batch_size: int,
                 label_range: tuple[float, float] | None) -> Tensor:
    """Labels as a flat float tensor: one per row, finite, inside ``label_range``."""
    if labels is None:
        raise LossError(f"{name} needs labels (one score per row), got None")
    labels = torch.as_tensor(labels)
    if labels.numel() != batch_size:
        raise LossError(f"{name} expects {batch_size} labels (one per row), got shape "
                        f"{tuple(labels.shape)}")
    labels = labels.reshape(-1).float()
    check_finite(name, "labels", labels)
    if label_range is not None:
        low, high = label_range
        if bool((labels < low).any() or (labels > high).any()):
            raise LossError(f"{name} expects labels in [{low}, {high}], got min "
                            f"{labels.min().item():.4g} and max {labels.max().item():.4g}")
    return labels


class EmbeddingLoss(nn.Module):
    """Base of the bi-encoder losses: one encoder forward per column, then embeddings -> loss.

    Subclasses set ``columns``, ``label_range`` and ``citation``, implement
    ``compute_loss_from_embeddings`` and ``config``; wrappers override ``layers_needed``.
    """

    columns: tuple[int, int | None] = (2, None)
    label_range: tuple[float, float] | None = None
    citation: str = SBERT_CITATION

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def config(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def citations(self) -> list[str]:
        """This loss's citation, then those of the losses it wraps (for the model card)."""
        inner = getattr(self, "loss", None)
        found = [self.citation, *(inner.citations if inner is not None else [])]
        return list(dict.fromkeys(found))

    def layers_needed(self) -> list[int] | None:
        """Layers to pool in the one forward; ``None`` means the last layer only (a plain tensor)."""
        return None

    def embed(self, features: Sequence[dict[str, Tensor]]) -> list[Tensor] | list[dict[int, Tensor]]:
        """ONE encoder forward per column (or one for all, the encoder's ``embed_columns``): a
        tensor per column, or ``{layer: tensor}`` for wrappers."""
        check_columns(self.name, len(features), self.columns)
        layers = self.layers_needed()
        embed_columns = getattr(self.model, "embed_columns", None)
        outs = (embed_columns(features, layers) if embed_columns is not None
                else [self.model(c, layers=layers) for c in features])
        if layers is None:
            return [next(iter(out.values())) for out in outs]
        return outs

    def forward(self, features: Sequence[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        return self.compute_loss_from_embeddings(self.embed(features), labels)

    def compute_loss_from_embeddings(self, embeddings: Any, labels: Tensor | None) -> Tensor:
        raise NotImplementedError


def last_layer(embeddings: Sequence[Tensor | dict[int, Tensor]]) -> list[Tensor]:
    """Plain tensors pass through; ``{layer: tensor}`` dicts give their deepest layer."""
    return [e[max(e)] if isinstance(e, dict) else e for e in embeddings]


def cat_columns(columns: Sequence[Tensor]) -> Tensor:
    """All columns stacked row-wise, (n_columns * batch, dim), as the KL terms compare them."""
    return torch.cat(list(columns), dim=0)
