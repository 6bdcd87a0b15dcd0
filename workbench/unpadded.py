"""Padding-free training forward for BERT encoders: the same function, without the padding work.

Hugging Face's ``BertModel`` runs every linear layer, LayerNorm, GELU and dropout over the padded
``(batch, longest, hidden)`` block; on STSB batches of 16 only about 45% of those positions are
real tokens. Here every per-token op runs on the real tokens only, gathered into one
``(tokens, hidden)`` matrix; only attention scatters them back to the padded layout (with the
same key mask as Hugging Face's). Per-token ops do not mix positions and padded keys are masked,
so each real token's hidden states equal Hugging Face's up to float rounding; only the dropout
masks differ (fewer random draws), which is the same distribution.

Used by ``BiEncoder.forward`` while the transformer trains (``supports`` decides); inference and
evaluation keep the reference padded forward.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def supports(transformer: nn.Module, features: dict[str, Tensor]) -> bool:
    """A plain bidirectional ``BertModel`` (absolute positions) and features this path handles."""
    cfg = getattr(transformer, "config", None)
    if type(transformer).__name__ != "BertModel" or cfg is None:
        return False
    plain = (not cfg.is_decoder and not getattr(cfg, "add_cross_attention", False)
             and getattr(cfg, "position_embedding_type", "absolute") == "absolute"
             and not getattr(cfg, "chunk_size_feed_forward", 0)
             and not getattr(transformer, "gradient_checkpointing", False))
    known = set(features) <= {"input_ids", "attention_mask", "token_type_ids"}
    return plain and known and "attention_mask" in features


def repad(tokens: Tensor, keep: Tensor, shape: tuple[int, int]) -> Tensor:
    """``(tokens, C)`` real-token rows back to ``(batch, longest, C)``, zeros at padding."""
    batch, length = shape
    out = tokens.new_zeros(batch * length, tokens.shape[-1]).index_copy(0, keep, tokens)
    return out.view(batch, length, -1)


def _embed(emb: nn.Module, features: dict[str, Tensor], keep: Tensor) -> Tensor:
    """``BertEmbeddings`` on the real tokens: word + token type + position, LayerNorm, dropout."""
    ids = features["input_ids"]
    batch, length = ids.shape
    positions = emb.position_ids[0, :length].expand(batch, length).reshape(-1)[keep]
    types = features.get("token_type_ids")
    types = (torch.zeros_like(positions) if types is None else types.reshape(-1)[keep])
    hidden = emb.word_embeddings(ids.reshape(-1)[keep]) + emb.token_type_embeddings(types)
    hidden = hidden + emb.position_embeddings(positions)
    return emb.dropout(emb.LayerNorm(hidden))


def _attention(attn: nn.Module, hidden: Tensor, keep: Tensor, shape: tuple[int, int],
               key_mask: Tensor) -> Tensor:
    """``BertSelfAttention`` (scaled dot product, key padding mask) on real-token rows."""
    batch, length = shape
    heads, size = attn.num_attention_heads, attn.attention_head_size

    projections = (attn.query, attn.key, attn.value)  # one fused GEMM for q, k and v
    qkv = F.linear(hidden, torch.cat([p.weight for p in projections]),
                   torch.cat([p.bias for p in projections]))
    qkv = repad(qkv, keep, shape).view(batch, length, 3, heads, size).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, scale=attn.scaling,
                                         dropout_p=attn.dropout.p if attn.training else 0.0)
    return out.transpose(1, 2).reshape(batch * length, heads * size)[keep]


def _layer(layer: nn.Module, hidden: Tensor, keep: Tensor, shape: tuple[int, int],
           key_mask: Tensor) -> Tensor:
    """One ``BertLayer``: attention, its output block, then the feed-forward block."""
    attended = _attention(layer.attention.self, hidden, keep, shape, key_mask)
    attended = layer.attention.output(attended, hidden)
    return layer.output(layer.intermediate(attended), attended)


def hidden_states(transformer: nn.Module, features: dict[str, Tensor],
                  depth: int | None = None) -> tuple[list[Tensor], Tensor]:
    """States ``0..depth`` (default: all layers) as ``(tokens, hidden)`` rows, and ``keep``.

    ``keep`` indexes the real tokens in the flattened ``(batch * longest)`` layout; pass both to
    :func:`repad` to get Hugging Face's ``hidden_states[k]`` (zeros at padding).
    """
    mask = features["attention_mask"]
    shape = (mask.shape[0], mask.shape[1])
    keep = mask.reshape(-1).nonzero().squeeze(1)
    key_mask = mask.bool()[:, None, None, :]
    states = [_embed(transformer.embeddings, features, keep)]
    layers = transformer.encoder.layer
    for layer in layers[:len(layers) if depth is None else depth]:
        states.append(_layer(layer, states[-1], keep, shape, key_mask))
    return states, keep


def merge_columns(columns: Sequence[dict[str, Tensor]]) -> tuple[dict[str, Tensor], list[int]]:
    """Every column's features stacked into one batch (right-padded to the longest), and sizes."""
    length = max(c["attention_mask"].shape[1] for c in columns)
    merged = {k: torch.cat([F.pad(c[k], (0, length - c[k].shape[1])) for c in columns])
              for k in columns[0]}
    return merged, [c["attention_mask"].shape[0] for c in columns]


def embed_columns(model: nn.Module, columns: Sequence[dict[str, Tensor]],
                  layers: Sequence[int] | None) -> list[dict[int, Tensor]]:
    """``model(features, layers)`` per column; a training BERT embeds all columns in ONE pass.

    Without padding work, stacking the columns costs nothing extra and saves a second pass: one
    embedding-gradient buffer instead of one per column, bigger matrix products, fewer ops.
    """
    transformer = getattr(model, "transformer", None)
    keys = {frozenset(c) for c in columns}
    if (len(columns) < 2 or transformer is None or not transformer.training
            or not torch.is_grad_enabled() or len(keys) != 1
            or not all(supports(transformer, c) for c in columns)):
        return [model(c, layers=layers) for c in columns]
    merged, sizes = merge_columns(columns)
    parts = {k: v.split(sizes) for k, v in model(merged, layers=layers).items()}
    return [{k: chunks[i] for k, chunks in parts.items()} for i in range(len(sizes))]
