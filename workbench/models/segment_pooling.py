"""Segment pooling: a cross-encoder's two texts pooled apart and compared, at any depth.

A pair is tokenised as ``[CLS] a [SEP] b [SEP]`` (RoBERTa, MPNet: ``<s> a </s></s> b </s>``).
At depth k, with ``h_t`` the token states, text a's tokens up to and including the first
separator and text b's the real tokens after it:

    u = sum_{t in a} h_t,    v = sum_{t in b} h_t,    z = H * (u / |u|) * (v / |v|)

(elementwise; ``H`` is the hidden size, so ``mean_i z_i = cos(u, v)``, the cosine of the two
texts' mean states). The model's own output layer reads ``z``: ``logit = w . z + b``, a cosine
with learned per-dimension weights. Initialised with ``w = alpha / H`` in every dimension it is
``alpha * cos(u, v) + b``: the bi-encoder's score (Reimers & Gurevych 2019), with whatever the
blocks' cross-attention adds (Nogueira & Cho 2019).

Why: a head on ``[CLS]`` or on the mean of the whole pair can only say how alike the texts are
once several blocks of cross-attention have written that into the states; one block mixes them
too little (a mean-pooled exit after block 1 of MiniLM scores 0.27 Spearman on STSB after
training). Comparing the segments gives every depth the bi-encoder's signal from the start.

This file is also copied, as it is, into saved rerankers (``segment_pooling.py``), where
``sentence_transformers.CrossEncoder(folder, trust_remote_code=True)`` (>= 6.0) builds
:class:`SegmentPooling` from it, so it imports nothing from workbench.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

try:  # only sentence-transformers needs the module class; the functions need torch alone
    from sentence_transformers.base.modules.module import Module
except ImportError:
    from torch.nn import Module


def second_segment(input_ids: Tensor, sep_token_id: int) -> Tensor:
    """``(B, T)`` bool: the tokens after each row's first separator (text b and its ends)."""
    sep = (input_ids == sep_token_id).long()
    return (sep.cumsum(1) - sep) > 0


def segment_features(rows: Tensor, seq: Tensor, second: Tensor, batch: int) -> Tensor:
    """``z`` of each pair (module docstring), ``(batch, H)``, from its real tokens' states.

    ``rows`` are ``(N, H)`` token states, ``seq`` each row's pair (``0..batch-1``) and
    ``second`` whether it belongs to text b. Sums run in fp32; a text with no tokens gives 0.
    """
    hidden = rows.shape[-1]
    slot = seq * 2 + second.long()
    sums = rows.new_zeros(2 * batch, hidden, dtype=torch.float32).index_add_(0, slot, rows.float())
    u, v = F.normalize(sums[0::2], dim=-1), F.normalize(sums[1::2], dim=-1)
    return (hidden * u * v).to(rows.dtype)


def padded_segment_features(states: Tensor, attention_mask: Tensor, input_ids: Tensor,
                            sep_token_id: int) -> Tensor:
    """:func:`segment_features` of a padded ``(B, T, H)`` batch."""
    batch, length, hidden = states.shape
    keep = attention_mask.reshape(-1).nonzero().squeeze(1)
    second = second_segment(input_ids, sep_token_id).reshape(-1)[keep]
    return segment_features(states.reshape(-1, hidden)[keep], keep // length, second, batch)


class SegmentPooling(Module):
    """sentence-transformers module: token states to ``z`` (``sentence_embedding``)."""

    config_keys = ["embedding_dimension", "sep_token_id"]

    def __init__(self, embedding_dimension: int, sep_token_id: int) -> None:
        super().__init__()
        self.embedding_dimension = embedding_dimension
        self.sep_token_id = sep_token_id

    def forward(self, features: dict, **kwargs) -> dict:
        if "cu_seq_lens_q" in features:
            raise ValueError("SegmentPooling reads padded token states; load without unpadding")
        features["sentence_embedding"] = padded_segment_features(
            features["token_embeddings"], features["attention_mask"], features["input_ids"],
            self.sep_token_id)
        return features

    def get_embedding_dimension(self) -> int:
        return self.embedding_dimension

    def get_config_dict(self) -> dict:
        return {key: getattr(self, key) for key in self.config_keys}

    def save(self, output_path: str, *args, **kwargs) -> None:
        self.save_config(output_path)
