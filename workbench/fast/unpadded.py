"""Padding-free training forward for BERT encoders: the same function, without the padding work.

Hugging Face's ``BertModel`` runs every linear layer, LayerNorm, GELU and dropout over the padded
``(batch, longest, hidden)`` block; on STSB batches of 16 only about 45% of those positions are
real tokens. Here every per-token op runs on the real tokens only, gathered into one
``(tokens, hidden)`` matrix; only attention gathers them back into padded blocks, and on the CPU
into buckets of sequences of similar length, each padded to its own longest (same key mask as
Hugging Face's): on 384 NLI sentences of 15.6 tokens on average, padded to 86, that cuts the
``L^2`` attention work and its dropout draws several-fold. Per-token ops do not mix positions and padded
keys are masked, so each real token's hidden states equal Hugging Face's up to float rounding;
only the dropout masks differ (fewer random draws), which is the same distribution.

Used by ``BiEncoder.forward`` while the transformer trains (``supports`` decides), and by
``CrossEncoder.forward`` while a ``BertForSequenceClassification`` trains (``supports_classifier``,
:func:`classifier_logits`); inference and evaluation keep the reference padded forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ATTENTION_PARTS = ("query", "key", "value", "dropout", "scaling", "num_attention_heads",
                   "attention_head_size")
"""What ``_attention`` reads from a ``BertSelfAttention`` (``scaling`` arrived with the attention
refactor of transformers 4.48+); a version without them keeps the reference forward."""


def has_parts(transformer: nn.Module) -> bool:
    """Whether the installed transformers' BERT blocks expose what this path reads."""
    layers = getattr(getattr(transformer, "encoder", None), "layer", None)
    if not layers:
        return False
    block = layers[0]
    attn = getattr(getattr(block, "attention", None), "self", None)
    return (attn is not None and all(hasattr(attn, p) for p in ATTENTION_PARTS)
            and all(hasattr(block, p) for p in ("intermediate", "output"))
            and hasattr(block.attention, "output"))


def supports(transformer: nn.Module, features: dict[str, Tensor]) -> bool:
    """A plain bidirectional ``BertModel`` (absolute positions) and features this path handles."""
    cfg = getattr(transformer, "config", None)
    if type(transformer).__name__ != "BertModel" or cfg is None or not has_parts(transformer):
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


BUCKET_SEQUENCES = 16  # sequences per attention bucket on the CPU (one bucket elsewhere: GPU launches)


@dataclass
class Layout:
    """Where a batch's real tokens live, and how attention visits them.

    ``keep`` indexes the real tokens in the flat ``(batch * longest)`` layout (token rows are
    ordered by sequence); ``shape`` is ``(batch, longest)``. Attention runs in buckets of
    sequences of similar length (:func:`_buckets`), each padded only to its own longest, laid
    end to end: ``slot`` gives each token row's slot there (unique indices, so the scatter and
    its gradient never accumulate into one row: fast on CUDA too), ``sizes`` the buckets'
    ``(sequences, longest)``, ``masks`` their key masks, ``seqs`` the sequences bucket after
    bucket and ``seq_order`` the inverse permutation (back to batch order). ``starts`` is each
    sequence's first token row (its ``[CLS]`` under right padding).
    """

    keep: Tensor
    shape: tuple[int, int]
    starts: Tensor
    slot: Tensor
    sizes: list[tuple[int, int]]
    masks: list[Tensor]
    seqs: Tensor
    seq_order: Tensor


def _buckets(lengths: Tensor, per_bucket: int) -> list[Tensor]:
    """Sequence indices sorted by length, cut into buckets of ``per_bucket``: attention work (and
    its dropout draws) then scales with each bucket's longest sequence, not the batch's."""
    return list(lengths.argsort(descending=True, stable=True).split(per_bucket))


def _layout(features: dict[str, Tensor]) -> Layout:
    mask = features["attention_mask"]
    lengths = (mask != 0).sum(1)
    starts = lengths.cumsum(0) - lengths
    per_bucket = BUCKET_SEQUENCES if mask.device.type == "cpu" else mask.shape[0]
    rows, sizes, masks, seqs = [], [], [], _buckets(lengths, per_bucket)
    for bucket in seqs:
        slots = torch.arange(int(lengths[bucket].max()), device=mask.device)
        is_real = slots < lengths[bucket, None]
        rows.append(torch.where(is_real, starts[bucket, None] + slots, -1).reshape(-1))
        sizes.append((len(bucket), len(slots)))
        masks.append(is_real[:, None, None, :])
    rows, order = torch.cat(rows), torch.cat(seqs)  # token row per slot (-1: padding)
    real = (rows >= 0).nonzero().squeeze(1)
    slot = torch.empty_like(real).index_copy_(0, rows[real], real)
    return Layout(mask.reshape(-1).nonzero().squeeze(1), (mask.shape[0], mask.shape[1]), starts,
                  slot, sizes, masks, order, order.argsort())


def _attention(attn: nn.Module, hidden: Tensor, layout: Layout, rows: Tensor | None = None) -> Tensor:
    """``BertSelfAttention`` (scaled dot product, key padding mask) on real-token rows, bucket by
    bucket: each real query sees exactly the real keys of its own sequence.

    ``rows`` (one index per sequence, e.g. each ``[CLS]``): only those rows query, the others
    still serve as keys and values; returns ``(batch, hidden)`` then.
    """
    heads, size = attn.num_attention_heads, attn.attention_head_size
    projections = (attn.key, attn.value) if rows is not None else (attn.query, attn.key, attn.value)
    fused = F.linear(hidden, torch.cat([p.weight for p in projections]),  # one GEMM for all
                     torch.cat([p.bias for p in projections]))
    slots = sum(n * longest for n, longest in layout.sizes)
    fused = fused.new_zeros(slots, fused.shape[1]).index_copy(0, layout.slot, fused)
    chunks = fused.split([n * longest for n, longest in layout.sizes])
    if rows is not None:  # the query rows, bucket by bucket
        queries = attn.query(hidden[rows]).index_select(0, layout.seqs).view(-1, heads, 1, size)
        queries = queries.split([n for n, _ in layout.sizes])
    dropout = attn.dropout.p if attn.training else 0.0
    outs = []
    for i, ((n, longest), chunk) in enumerate(zip(layout.sizes, chunks, strict=True)):
        x = chunk.view(n, longest, len(projections), heads, size).permute(2, 0, 3, 1, 4)
        q, k, v = x.unbind(0) if rows is None else (queries[i], *x.unbind(0))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=layout.masks[i],
                                             scale=attn.scaling, dropout_p=dropout)
        outs.append(out.transpose(1, 2).reshape(-1, heads * size))
    return torch.cat(outs).index_select(0, layout.seq_order if rows is not None else layout.slot)


def _layer(layer: nn.Module, hidden: Tensor, layout: Layout, rows: Tensor | None = None) -> Tensor:
    """One ``BertLayer``: attention, its output block, then the feed-forward block."""
    attended = _attention(layer.attention.self, hidden, layout, rows)
    attended = layer.attention.output(attended, hidden if rows is None else hidden[rows])
    return layer.output(layer.intermediate(attended), attended)


def hidden_states(transformer: nn.Module, features: dict[str, Tensor],
                  depth: int | None = None) -> tuple[list[Tensor], Tensor]:
    """States ``0..depth`` (default: all layers) as ``(tokens, hidden)`` rows, and ``keep``.

    ``keep`` indexes the real tokens in the flattened ``(batch * longest)`` layout; pass both to
    :func:`repad` to get Hugging Face's ``hidden_states[k]`` (zeros at padding).
    """
    layout = _layout(features)
    return _states(transformer, features, layout, depth), layout.keep


def _states(bert: nn.Module, features: dict[str, Tensor], layout: Layout,
            depth: int | None) -> list[Tensor]:
    """Embeddings, then layers ``1..depth``, on ``layout``'s real-token rows."""
    states = [_embed(bert.embeddings, features, layout.keep)]
    layers = bert.encoder.layer
    for layer in layers[:len(layers) if depth is None else depth]:
        states.append(_layer(layer, states[-1], layout))
    return states


def supports_classifier(model: nn.Module, features: dict[str, Tensor]) -> bool:
    """A ``BertForSequenceClassification`` (with its pooler) and features with ``[CLS]`` first."""
    bert = getattr(model, "bert", None)
    if (type(model).__name__ != "BertForSequenceClassification" or bert is None
            or getattr(bert, "pooler", None) is None or not supports(bert, features)):
        return False
    return bool(features["attention_mask"][:, 0].all())  # right padding: [CLS] is real


def classifier_logits(model: nn.Module, features: dict[str, Tensor]) -> Tensor:
    """``BertForSequenceClassification(**features).logits`` without the padding work.

    Layers ``1..L-1`` run on the real tokens; the last layer computes only the ``[CLS]`` rows (the
    pooler reads nothing else; every token still serves as a key and value). Then, as Hugging
    Face: pooler (dense + tanh on ``[CLS]``), dropout, classifier. ``token_type_ids`` mark pairs.
    """
    bert, layers = model.bert, model.bert.encoder.layer
    layout = _layout(features)
    states = _states(bert, features, layout, len(layers) - 1)
    last = _layer(layers[-1], states[-1], layout, rows=layout.starts)  # [CLS] rows query
    pooled = bert.pooler(last.unsqueeze(1))  # the pooler reads position 0
    return model.classifier(model.dropout(pooled))


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
