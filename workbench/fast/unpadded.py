"""Padding-free forward of transformer encoders: the same function, without the padding work.

Hugging Face's encoders run every linear layer, LayerNorm, GELU and dropout over the padded
``(batch, longest, hidden)`` block; on STSB batches of 16 only about 45% of those positions are
real tokens. Here every per-token op runs on the real tokens only, gathered into one
``(tokens, hidden)`` matrix; only attention gathers them back into padded blocks, and on the CPU
into buckets of sequences of similar length, each padded to its own longest (same key mask as
Hugging Face's): on 384 NLI sentences of 15.6 tokens on average, padded to 86, that cuts the
``L^2`` attention work and its dropout draws several-fold. Per-token ops do not mix positions and
padded keys are masked, so each real token's hidden states equal Hugging Face's up to float
rounding; only the dropout masks differ (fewer random draws; on the CPU from 16-bit lanes,
:mod:`workbench.fast.dropout`), which is the same distribution.

Which encoders and how to read them: :mod:`workbench.fast.registry` (BERT, RoBERTa, XLM-R,
DistilBERT, MPNet). Used by ``BiEncoder.forward`` while the transformer trains (``supports``
decides), by ``CrossEncoder.forward`` for a registered classifier (``supports_classifier``,
:func:`classifier_logits`), and by :mod:`workbench.fast.inference` (encoding).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.fast import native_attention, registry
from workbench.fast.dropout import dropout
from workbench.fast.native_layer_norm import add_norm
from workbench.fast.registry import Architecture, BlockWeights


def supports(transformer: nn.Module, features: dict[str, Tensor]) -> bool:
    """A registered encoder (:mod:`workbench.fast.registry`) and features this path handles."""
    known = set(features) <= {"input_ids", "attention_mask", "token_type_ids"}
    return known and "attention_mask" in features and registry.lookup(transformer) is not None


def repad(tokens: Tensor, keep: Tensor, shape: tuple[int, int]) -> Tensor:
    """``(tokens, C)`` real-token rows back to ``(batch, longest, C)``, zeros at padding."""
    batch, length = shape
    out = tokens.new_zeros(batch * length, tokens.shape[-1]).index_copy(0, keep, tokens)
    return out.view(batch, length, -1)


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
    sequence's first token row (its ``[CLS]`` under right padding), ``lengths`` its token count.
    """

    keep: Tensor
    shape: tuple[int, int]
    starts: Tensor
    lengths: Tensor
    slot: Tensor
    sizes: list[tuple[int, int]]
    masks: list[Tensor]
    seqs: Tensor
    seq_order: Tensor


def _buckets(lengths: Tensor, per_bucket: int) -> list[Tensor]:
    """Sequence indices sorted by length, cut into buckets of ``per_bucket``: attention work (and
    its dropout draws) then scales with each bucket's longest sequence, not the batch's."""
    return list(lengths.argsort(descending=True, stable=True).split(per_bucket))


def layout(features: dict[str, Tensor]) -> Layout:
    """The :class:`Layout` of a padded batch (its ``attention_mask``)."""
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
                  lengths, slot, sizes, masks, order, order.argsort())


_layout = layout


def _masks(layout: Layout, bias: Tensor | None, dtype: torch.dtype) -> list[Tensor]:
    """Per bucket: the boolean key mask, or (with a bias) bias + large negative at padding keys."""
    if bias is None:
        return layout.masks
    bias = bias.to(dtype)
    return [bias[..., :n, :n].masked_fill(~m, torch.finfo(dtype).min)
            for m, (_, n) in zip(layout.masks, layout.sizes, strict=True)]


def attention(w: BlockWeights, hidden: Tensor, layout: Layout, masks: list[Tensor],
              rows: Tensor | None = None, linear: Callable = F.linear,
              score_bias: Tensor | None = None) -> Tensor:
    """Multi-head scaled dot-product attention on real-token rows, bucket by bucket: each real
    query sees exactly the real keys of its own sequence (``masks``: :func:`_masks`).

    ``rows`` (one index per sequence, e.g. each ``[CLS]``): only those rows query, the others
    still serve as keys and values; returns ``(batch, hidden)`` in batch order then. Without
    autograd or dropout (``predict``, evaluation) on the CPU, all rows querying, the native kernel
    (:mod:`workbench.fast.native_attention`) attends sequence by sequence instead of the buckets;
    ``score_bias`` is the raw attention bias ``masks`` were built with, which it then needs. With
    autograd or dropout (training), all rows querying and no bias, its training kernels do (their
    own dropout on the probabilities, their own backward).
    """
    weight, bias = w.qkv
    width = weight.shape[0] // 3
    size = width // w.heads
    parts = 3 if rows is None else 2
    # one GEMM for all (keys and values only with ``rows``); the whole is not sliced: its
    # gradient would be a zeroed copy
    kv = (weight, bias) if parts == 3 else (weight[-parts * width:], bias[-parts * width:])
    fused = linear(hidden, *kv)
    if rows is None and (score_bias is not None or masks[0].dtype == torch.bool):
        native = None
        if _inference(w):
            native = native_attention.attend(fused, layout.starts, layout.lengths, w.heads,
                                             w.scaling, score_bias)
        elif score_bias is None:  # the training kernels take no bias
            native = native_attention.attend_train(fused, layout.starts, layout.lengths, w.heads,
                                                   w.scaling, w.dropout[0])
        if native is not None:
            return native
    slots = sum(n * longest for n, longest in layout.sizes)
    fused = fused.new_zeros(slots, fused.shape[1]).index_copy(0, layout.slot, fused)
    chunks = fused.split([n * longest for n, longest in layout.sizes])
    if rows is not None:  # the query rows, bucket by bucket
        queries = linear(hidden[rows], weight[:width], bias[:width])
        queries = queries.index_select(0, layout.seqs).view(-1, w.heads, 1, size)
        queries = queries.split([n for n, _ in layout.sizes])
    attend = _attend if hidden.device.type == "cpu" else F.scaled_dot_product_attention
    outs = []
    for i, ((n, longest), chunk) in enumerate(zip(layout.sizes, chunks, strict=True)):
        x = chunk.view(n, longest, parts, w.heads, size).permute(2, 0, 3, 1, 4)
        q, k, v = x.unbind(0) if rows is None else (queries[i], *x.unbind(0))
        mask = masks[i] if rows is None or masks[i].dtype == torch.bool else masks[i][..., :1, :]
        out = attend(q, k, v, attn_mask=mask, scale=w.scaling, dropout_p=w.dropout[0])
        outs.append(out.transpose(1, 2).reshape(-1, width))
    return torch.cat(outs).index_select(0, layout.seq_order if rows is not None else layout.slot)


def _inference(w: BlockWeights) -> bool:
    """No autograd and no attention dropout: what the native kernel computes."""
    return not torch.is_grad_enabled() and w.dropout[0] == 0


def _attend(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor, scale: float,
            dropout_p: float) -> Tensor:
    """``dropout(softmax(q k^T * scale + mask)) v`` on the CPU: the two products in the inputs'
    dtype (bf16 under autocast), the softmax and its dropout in fp32.

    ``F.scaled_dot_product_attention`` with dropout takes its math path on the CPU, which upcasts
    bf16 to fp32 for both products and checks every row for being fully masked; on a bucket of
    16 STS-B sentences (12 heads of 32, 28 tokens) forward and backward take 3.2 ms here against
    its 5.1 (outputs and gradients within one bf16 ulp). ``attn_mask``: boolean (``True`` = a
    real key) or additive. The dropout is :func:`workbench.fast.dropout.dropout` (lane draws, not
    SDPA's ``bernoulli_``): the same distribution, other masks.
    """
    scores = torch.matmul(q, k.transpose(-1, -2))
    scores = scores.to(torch.promote_types(scores.dtype, torch.float32)).mul_(scale)
    if attn_mask.dtype == torch.bool:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    else:
        scores = scores + attn_mask
    probs = dropout(scores.softmax(-1), dropout_p)
    return torch.matmul(probs.to(v.dtype), v)


def block(w: BlockWeights, hidden: Tensor, layout: Layout, masks: list[Tensor],
          rows: Tensor | None = None, linear: Callable = F.linear,
          score_bias: Tensor | None = None, up: Callable | None = None) -> Tensor:
    """One post-LN block (:class:`BlockWeights`): attention, output map, residual + LayerNorm,
    then the feed-forward map, residual + LayerNorm (``score_bias``: see :func:`attention`;
    ``up(x, w, b)``: the first feed-forward map with its activation, e.g. oneDNN's fused GELU;
    default ``act(linear(...))``)."""
    attended = attention(w, hidden, layout, masks, rows, linear, score_bias)
    residual = hidden if rows is None else hidden[rows]
    x = add_norm(dropout(linear(attended, *w.out), w.dropout[1]), residual, w.norm1)
    inner = up(x, *w.up) if up is not None else w.act(linear(x, *w.up))
    y = dropout(linear(inner, *w.down), w.dropout[2])
    return add_norm(y, x, w.norm2)


def hidden_states(transformer: nn.Module, features: dict[str, Tensor],
                  depth: int | None = None) -> tuple[list[Tensor], Tensor]:
    """States ``0..depth`` (default: all layers) as ``(tokens, hidden)`` rows, and ``keep``.

    ``keep`` indexes the real tokens in the flattened ``(batch * longest)`` layout; pass both to
    :func:`repad` to get Hugging Face's ``hidden_states[k]`` (zeros at padding).
    """
    arch = registry.lookup(transformer)
    plan = layout(features)
    return _states(arch, transformer, features, plan, depth), plan.keep


def _states(arch: Architecture, model: nn.Module, features: dict[str, Tensor], plan: Layout,
            depth: int | None) -> list[Tensor]:
    """Embeddings, then blocks ``1..depth``, on ``plan``'s real-token rows (autograd on)."""
    states = [arch.embed(model, features, plan.keep)]
    blocks = arch.blocks(model)
    bias = bias_for(arch, model, plan)
    masks = _masks(plan, bias, states[0].dtype)
    for layer in blocks[:len(blocks) if depth is None else depth]:
        states.append(block(arch.weights(layer), states[-1], plan, masks, score_bias=bias))
    return states


def bias_for(arch: Architecture, model: nn.Module, plan: Layout) -> Tensor | None:
    """The architecture's attention bias for the longest bucket (``None`` if it has none)."""
    if arch.bias is None:
        return None
    return arch.bias(model, max(longest for _, longest in plan.sizes))


def supports_classifier(model: nn.Module, features: dict[str, Tensor]) -> bool:
    """A registered classification model and features with the first token real in every row."""
    found = registry.lookup_classifier(model)
    if found is None or not supports(found[0].base(model), features):
        return False
    return bool(features["attention_mask"][:, 0].all())  # right padding: [CLS] is real


def classifier_logits(model: nn.Module, features: dict[str, Tensor],
                      pooling: str = "cls") -> Tensor:
    """``model(**features).logits`` of a sequence classifier without the padding work.

    Blocks ``1..L-1`` run on the real tokens; with ``pooling="cls"`` the last block computes only
    the first-token rows (the heads read nothing else; every token still serves as a key and
    value). Then the model's own head (BERT: pooler, dropout, classifier) on that row, or on the
    mean of each pair's token states (``pooling="mean"``). ``token_type_ids`` mark pairs.
    """
    classifier, arch = registry.lookup_classifier(model)
    depth = len(arch.blocks(classifier.base(model)))
    return classifier_layer_logits(model, features, [depth], pooling)[depth].unsqueeze(-1)


def segment_mean(rows: Tensor, lengths: Tensor) -> Tensor:
    """``(sum(lengths), H)`` token rows, sequence after sequence, to ``(len(lengths), H)`` means."""
    seq = torch.repeat_interleave(torch.arange(len(lengths), device=rows.device), lengths)
    sums = rows.new_zeros(len(lengths), rows.shape[1], dtype=torch.float32)
    sums.index_add_(0, seq, rows.float())
    return (sums / lengths.clamp(min=1).unsqueeze(1).float()).to(rows.dtype)


def classifier_layer_logits(model: nn.Module, features: dict[str, Tensor],
                            layers: Sequence[int], pooling: str = "cls") -> dict[int, Tensor]:
    """``{k: logits (B,)}``: the model's head on layer ``k``'s first-token state (or, with
    ``pooling="mean"``, on the mean of its real tokens' states).

    One padding-free pass up to the deepest layer asked for; with ``"cls"`` that layer computes
    only its first-token rows (as :func:`classifier_logits`). Layer ``k``'s logit is what the
    model cut to its first ``k`` blocks outputs (up to dropout draws).
    """
    classifier, arch = registry.lookup_classifier(model)
    if pooling == "mean":
        states, plan = packed_layer_states(model, features, layers)
        rows = {k: segment_mean(states[k], plan.lengths) for k in layers}
    else:
        base = classifier.base(model)
        blocks, plan = arch.blocks(base), layout(features)
        deepest = _deepest(layers, len(blocks))
        states = _states(arch, base, features, plan, deepest - 1)
        rows = {k: states[k][plan.starts] for k in layers if k < deepest}
        masks = _masks(plan, bias_for(arch, base, plan), states[-1].dtype)
        rows[deepest] = block(arch.weights(blocks[deepest - 1]), states[-1], plan, masks,
                              rows=plan.starts)
    return {k: classifier.head(model, rows[k]).squeeze(-1) for k in sorted(rows)}


def _deepest(layers: Sequence[int], depth: int) -> int:
    if min(layers) < 1 or max(layers) > depth:
        raise ValueError(f"layers {sorted(layers)} not in 1..{depth}")
    return max(layers)


def packed_layer_states(model: nn.Module, features: dict[str, Tensor],
                        layers: Sequence[int]) -> tuple[dict[int, Tensor], Layout]:
    """Every real token's state after each block ``k`` in ``layers`` of a registered sequence
    classifier's encoder, ``{k: (N, H)}`` rows sequence after sequence, and the batch's
    :class:`Layout` (``keep`` says where each row sat in the padded batch)."""
    classifier, arch = registry.lookup_classifier(model)
    base = classifier.base(model)
    plan = layout(features)
    states = _states(arch, base, features, plan, _deepest(layers, len(arch.blocks(base))))
    return {k: states[k] for k in layers}, plan


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
