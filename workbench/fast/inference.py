"""Padding-free inference: pooled embeddings of every requested layer, fp32 or bf16.

The forward of :mod:`workbench.fast.unpadded` (every per-token op on the real tokens only) run
without autograd over weights prepared once per block and precision: the query/key/value maps
stacked into one matrix and, for bf16, cast once. On the CPU the batch runs sorted by length
with attention by the native kernel or in runs of equal length (:mod:`workbench.fast.groups`: no
masks, no scatter), residual + LayerNorm in one native pass, and every linear layer through
oneDNN (:mod:`workbench.fast.onednn`: about 2x MKL's fp32 GEMM here,
bias and GELU fused). Prepared weights are cached per block object and re-made when a weight
changes (storage, in-place version or sum), so a model cut to its first k blocks (the grid's
latency per depth) reuses them: nothing is copied inside a timed block. Embeddings run in fp32
on the live weights (cheap), then the blocks in the chosen precision. Pooling reads the
real-token rows directly (mean, first token, max), in fp32.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn

from workbench.fast import cuda_graphs, groups, onednn, registry, unpadded
from workbench.fast.bf16_inference import TOKENS_PER_TEXT, token_batches
from workbench.fast.padding import pad_id, pad_like
from workbench.fast.registry import Architecture, BlockWeights
from workbench.fast.tokens import token_columns

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def supported(transformer: nn.Module, tokenizer) -> bool:
    """A registered encoder (logged once if not) and a right-padding tokenizer."""
    return (getattr(tokenizer, "padding_side", "right") == "right"
            and registry.lookup(transformer) is not None)


_PASS = [0]


def new_pass() -> None:
    """Re-check every block's weights at its next use (call once per encode): fused optimizers
    (``AdamW(fused=True)``) update weights in place without bumping their version counter, so
    the check also compares each weight's sum."""
    _PASS[0] += 1


def _weights_key(module: nn.Module, dtype: torch.dtype, pack: bool) -> tuple:
    return (dtype, pack, *((p.data_ptr(), p._version, float(p.detach().sum()))
                           for p in module.parameters()))


def _cast(w: BlockWeights, dtype: torch.dtype, pack: bool = False) -> BlockWeights:
    def cast(t: Tensor | None) -> Tensor | None:
        return None if t is None else t.detach().to(dtype).contiguous()

    fields = {f.name: getattr(w, f.name) for f in dataclasses.fields(w)}
    for name in ("qkv", "out", "up", "down"):
        weight, bias = (cast(t) for t in fields[name])
        fields[name] = (onednn.pack(weight) if pack else weight, bias)
    for name in ("norm1", "norm2"):
        weight, bias, eps = fields[name]
        fields[name] = (cast(weight), cast(bias), eps)
    return BlockWeights(**{**fields, "dropout": (0.0, 0.0, 0.0)})


def prepared(arch: Architecture, block: nn.Module, dtype: torch.dtype,
             pack: bool = False) -> BlockWeights:
    """``block``'s inference weights in ``dtype`` (linear weights packed for oneDNN if
    ``pack``: :func:`onednn.pack`), cached until one of its weights changes (storage, version
    or sum; checked once per :func:`new_pass`)."""
    hit = _PREPARED.get(block)
    if hit is not None and hit[2] == _PASS[0] and hit[0][:2] == (dtype, pack):
        return hit[1]  # checked in this pass already
    key = _weights_key(block, dtype, pack)
    if hit is None or hit[0] != key:
        with torch.no_grad():
            hit = (key, _cast(arch.weights(block), dtype, pack))
    _PREPARED[block] = (*hit[:2], _PASS[0])
    return hit[1]


def pool_rows(rows: Tensor, plan: unpadded.Layout | groups.Groups, mode: str) -> Tensor:
    """``(tokens, H)`` real-token rows to ``(batch, H)`` fp32 vectors: "mean", "cls" or "max"."""
    rows = rows.float()
    if mode == "cls":
        return rows[plan.starts]
    seq = torch.repeat_interleave(torch.arange(len(plan.lengths), device=rows.device), plan.lengths)
    if mode == "max":
        out = rows.new_full((len(plan.lengths), rows.shape[1]), float("-inf"))
        return out.scatter_reduce(0, seq[:, None].expand_as(rows), rows, "amax")
    sums = rows.new_zeros(len(plan.lengths), rows.shape[1]).index_add_(0, seq, rows)
    return sums / plan.lengths[:, None].to(rows.dtype)


@torch.inference_mode()
def pooled(transformer: nn.Module, features: dict[str, Tensor], layers: Sequence[int],
           pooling: str = "mean", precision: str = "fp32") -> dict[int, Tensor]:
    """``{k: pool(hidden_states[k])}`` of one right-padded batch, running only blocks
    ``1..max(layers)``; equal to Hugging Face's padded forward up to rounding (fp32).

    On the CPU the batch runs sorted by length, attention in runs of equal length
    (:mod:`workbench.fast.groups`), linear layers through oneDNN (:mod:`workbench.fast.onednn`);
    on CUDA with graphs on (:func:`cuda_graphs.enabled`), through its shape's captured graph
    (a static-shape batch from :func:`token_rows`: filler rows give filler outputs);
    elsewhere in :mod:`unpadded`'s length buckets (one per batch: fewer launches)."""
    device = features["input_ids"].device
    if cuda_graphs.enabled(device):
        dtype = DTYPES[precision]
        return cuda_graphs.graphed_pooled(transformer, features, layers, pooling, dtype,
                                          lambda arch, block: prepared(arch, block, dtype))
    order = groups.sort_order(features) if device.type == "cpu" else None
    if order is not None:
        features = {k: v.index_select(0, order) for k, v in features.items()}
    run = _grouped if device.type == "cpu" else _bucketed
    out = run(registry.lookup(transformer), transformer, features, layers, pooling,
              DTYPES[precision])
    if order is not None:
        inverse = order.argsort()
        out = {k: v.index_select(0, inverse) for k, v in out.items()}
    return out


def _grouped(arch: Architecture, transformer: nn.Module, features: dict[str, Tensor],
             layers: Sequence[int], pooling: str, dtype: torch.dtype) -> dict[int, Tensor]:
    """:func:`pooled` on a batch sorted longest first, in runs of equal length (CPU)."""
    plan = groups.groups(features)
    hidden = arch.embed(transformer, features, plan.keep).to(dtype)
    longest = plan.sizes[0][1]
    bias = None if arch.bias is None else arch.bias(transformer, longest).to(dtype)
    linear = onednn.linear_for(dtype, hidden.device)
    pack = linear is onednn.linear and onednn.packs(dtype)  # weights reordered once, not per call
    out = {0: pool_rows(hidden, plan, pooling)} if 0 in layers else {}
    for k, block in enumerate(arch.blocks(transformer)[:max(layers)], start=1):
        w = prepared(arch, block, dtype, pack)
        up = onednn.up_for(w.act, dtype, hidden.device)
        hidden = groups.block(w, hidden, plan, linear, up, bias)
        if k in layers:
            out[k] = pool_rows(hidden, plan, pooling)
    return out


def _bucketed(arch: Architecture, transformer: nn.Module, features: dict[str, Tensor],
              layers: Sequence[int], pooling: str, dtype: torch.dtype) -> dict[int, Tensor]:
    """:func:`pooled` through :mod:`unpadded`'s bucketed attention (CUDA and other devices)."""
    plan = unpadded.layout(features)
    hidden = arch.embed(transformer, features, plan.keep).to(dtype)
    masks = unpadded._masks(plan, unpadded.bias_for(arch, transformer, plan), dtype)
    out = {0: pool_rows(hidden, plan, pooling)} if 0 in layers else {}
    for k, block in enumerate(arch.blocks(transformer)[:max(layers)], start=1):
        hidden = unpadded.block(prepared(arch, block, dtype), hidden, plan, masks)
        if k in layers:
            out[k] = pool_rows(hidden, plan, pooling)
    return out


@torch.inference_mode()
def classifier_logits(model: nn.Module, features: dict[str, Tensor], pooling: str = "cls",
                      precision: str = "fp32") -> Tensor:
    """``model(**features).logits[:, 0]`` of a registered sequence classifier
    (:func:`unpadded.supports_classifier`) on the CPU, for ``CrossEncoder.predict``.

    :func:`unpadded.classifier_logits` on prepared weights (:func:`prepared`: cast to the
    precision once, not by autocast at every call; packed for oneDNN in fp32) with oneDNN linear
    layers, the GELU fused into the first feed-forward map; with ``pooling="cls"`` the last block
    computes only the ``[CLS]`` rows (its weights stay unpacked: it slices them), ``"mean"``
    pools every real token. The head runs in fp32.
    """
    classifier, arch = registry.lookup_classifier(model)
    base, dtype = classifier.base(model), DTYPES[precision]
    plan = unpadded.layout(features)
    hidden = arch.embed(base, features, plan.keep).to(dtype)
    bias = unpadded.bias_for(arch, base, plan)
    bias = None if bias is None else bias.to(dtype)
    masks = unpadded._masks(plan, bias, dtype)
    linear = onednn.linear_for(dtype, hidden.device)
    pack = linear is onednn.linear and onednn.packs(dtype)
    blocks = arch.blocks(base)
    for i, block in enumerate(blocks, start=1):
        rows = plan.starts if pooling == "cls" and i == len(blocks) else None
        w = prepared(arch, block, dtype, pack and rows is None)
        up = onednn.up_for(w.act, dtype, hidden.device)
        hidden = unpadded.block(w, hidden, plan, masks, rows, linear, bias, up)
    first = hidden if pooling == "cls" else unpadded.segment_mean(hidden, plan.lengths)
    return classifier.head(model, first.float()).squeeze(-1)


def token_rows(tokenizer, texts: Sequence[str], max_length: int, batch_size: int,
               device: torch.device, static: bool = False
               ) -> Iterator[tuple[list[int], dict[str, Tensor]]]:
    """Texts tokenised once, packed longest-first into batches of about ``batch_size`` x
    ``TOKENS_PER_TEXT`` padded tokens; yields ``(indices, padded features)``. ``static`` (for
    CUDA graphs, :func:`cuda_graphs.enabled`): batches of static shapes
    (:func:`cuda_graphs.static_batches`), which may have more rows than indices (filler rows
    at the end)."""
    columns = token_columns(tokenizer, texts, max_length=max_length)
    lengths = [len(ids) for ids in columns["input_ids"]]
    budget = batch_size * TOKENS_PER_TEXT
    if static:
        for idx, rows, length in cuda_graphs.static_batches(lengths, budget, max_length):
            features = cuda_graphs.pad_to(pad_like(tokenizer, columns, idx), rows, length,
                                          pad_id(tokenizer))
            yield idx, {k: v.to(device, non_blocking=True) for k, v in features.items()}
        return
    for idx in token_batches(lengths, budget):
        yield idx, {k: v.to(device) for k, v in pad_like(tokenizer, columns, idx).items()}
