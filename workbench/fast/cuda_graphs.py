"""CUDA graphs for encoding with small encoders on the GPU: one launch per batch, not hundreds.

On an H100, all-MiniLM-L6-v2 reaches 0.1-1.1% of the bf16 matmul rate (docs/results.md): each
of a batch's ~100 kernels (six blocks of GEMMs, attention, LayerNorms, copies) is tiny, and the
time goes to launching them from Python. A CUDA graph records a batch's kernels once and replays
them with one launch (`CUDA graphs`_); it needs static shapes and no host synchronisation inside.
So here:

- texts are batched by **static shapes** (:func:`static_batches`): lengths rounded up to a
  multiple of :data:`LENGTH_STEP` (:func:`bucket_length`), and every batch of one bucket gets the
  same number of rows, ``max_tokens // length``; the last batch of a bucket is topped up with
  filler rows (pad tokens, an all-zero attention mask, dropped by the caller);
- the forward is **dense over the static shape** (:func:`dense_pooled`): the same blocks as
  :mod:`workbench.fast.unpadded` on every ``(row, slot)``, padded keys masked as Hugging Face
  does, pooling by the attention mask; no index sets computed from the data, so nothing syncs;
- one graph per ``(precision, layers, pooling, rows, length, feature names)`` is captured at the
  first batch of its shape and replayed after (:func:`graphed_pooled`), all sharing one memory
  pool (they never run concurrently and outputs are cloned after each replay). A graph holds the
  prepared weights it read, and is captured again when the model's weights are re-prepared
  (:func:`workbench.fast.inference.prepared`) or its embedding tables move.

Opt-in (``WORKBENCH_CUDA_GRAPHS=1``) until its GPU timings are in docs/results.md. Off the GPU
the same static-shape path runs eagerly (what the tests check against the padding-free forward).

.. _CUDA graphs: https://pytorch.org/docs/stable/notes/cuda.html#cuda-graphs
"""

from __future__ import annotations

import collections
import functools
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench import settings
from workbench.fast import registry, unpadded
from workbench.fast.registry import Architecture, BlockWeights

LENGTH_STEP = 8
"""Static lengths are multiples of this (padding at most ``LENGTH_STEP - 1`` slots a text)."""
MAX_GRAPHS = 64
"""Graphs kept per model (least recently used dropped first)."""
_GRAPHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def enabled(device: torch.device | str) -> bool:
    """Graphs for encoding on ``device``: CUDA and ``WORKBENCH_CUDA_GRAPHS`` on."""
    return torch.device(device).type == "cuda" and settings.cuda_graphs()


def bucket_length(length: int, max_length: int) -> int:
    """``length`` rounded up to a multiple of :data:`LENGTH_STEP`, at most ``max_length``."""
    return min(-(-max(1, length) // LENGTH_STEP) * LENGTH_STEP, max(length, max_length))


def static_batches(lengths: Sequence[int], max_tokens: int, max_length: int
                   ) -> Iterator[tuple[list[int], int, int]]:
    """``(indices, rows, length)`` batches, longest texts first: the texts of one rounded length
    (:func:`bucket_length`) in batches of ``rows = max(1, max_tokens // length)``; a bucket's
    last batch has fewer indices than ``rows`` (the caller tops it up)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    start = 0
    while start < len(order):
        length = bucket_length(lengths[order[start]], max_length)
        rows = max(1, max_tokens // length)
        end = start
        while (end < len(order) and end - start < rows
               and bucket_length(lengths[order[end]], max_length) == length):
            end += 1
        yield order[start:end], rows, length
        start = end


def pad_to(features: dict[str, Tensor], rows: int, length: int, pad_id: int) -> dict[str, Tensor]:
    """Right-padded features grown to ``(rows, length)``: pad ids in ``input_ids``, zeros in
    every other column (filler rows have an all-zero attention mask)."""
    batch, width = features["input_ids"].shape
    return {k: F.pad(v, (0, length - width, 0, rows - batch),
                     value=pad_id if k == "input_ids" else 0) for k, v in features.items()}


def dense_layout(mask: Tensor) -> unpadded.Layout:
    """A :class:`unpadded.Layout` with every ``(row, slot)`` a token row and one attention bucket
    of the whole batch, keys masked by ``mask``: made without reading ``mask`` on the host."""
    batch, length = mask.shape
    every = torch.arange(batch * length, device=mask.device)
    seqs = torch.arange(batch, device=mask.device)
    return unpadded.Layout(every, (batch, length), seqs * length, mask.sum(1), every,
                           [(batch, length)], [mask.bool()[:, None, None, :]], seqs, seqs)


def dense_pool(hidden: Tensor, mask: Tensor, mode: str) -> Tensor:
    """``(batch * length, H)`` rows pooled by the attention ``mask`` to ``(batch, H)`` fp32:
    "mean" (over real tokens), "cls" (the first slot) or "max" (over real tokens). Padding slots
    are never read (a fully masked filler row's attention may be NaN)."""
    hidden = hidden.float().view(*mask.shape, -1)
    if mode == "cls":
        return hidden[:, 0]
    real = mask.bool()[..., None]
    if mode == "max":
        return hidden.masked_fill(~real, float("-inf")).amax(1)
    return hidden.masked_fill(~real, 0.0).sum(1) / real.sum(1).clamp(min=1)  # padding may hold NaN


def dense_pooled(arch: Architecture, transformer: nn.Module, features: dict[str, Tensor],
                 weights: Sequence[BlockWeights], layers: Sequence[int], pooling: str,
                 dtype: torch.dtype, bias: Tensor | None = None) -> dict[int, Tensor]:
    """``{k: pool(hidden_states[k])}`` of a right-padded batch, every slot computed, blocks
    ``1..len(weights)`` run on ``weights`` in ``dtype`` (``bias``: the architecture's attention
    bias for this length, computed outside); no host synchronisation (capturable)."""
    mask = features["attention_mask"]
    plan = dense_layout(mask)
    hidden = arch.embed(transformer, features, plan.keep).to(dtype)
    masks = unpadded._masks(plan, bias, dtype)
    out = {0: dense_pool(hidden, mask, pooling)} if 0 in layers else {}
    for k, w in enumerate(weights, start=1):
        hidden = unpadded.block(w, hidden, plan, masks)
        if k in layers:
            out[k] = dense_pool(hidden, mask, pooling)
    return out


@dataclass
class _Graph:
    """One captured shape: the weights it read, its input buffers and its replay."""

    weights: tuple[BlockWeights, ...]
    tables: tuple[int, ...]
    inputs: dict[str, Tensor]
    replay: Callable[[], dict[int, Tensor]]


def _tables(transformer: nn.Module) -> tuple[int, ...]:
    """Where the embedding parameters live (a graph reads them at these addresses)."""
    embeddings = getattr(transformer, "embeddings", transformer)
    return tuple(p.data_ptr() for p in embeddings.parameters())


@functools.cache
def _memory_pool() -> tuple:
    """The one memory pool every graph shares (they never replay at the same time)."""
    return torch.cuda.graph_pool_handle()


def capture(forward: Callable[[dict[str, Tensor]], dict[int, Tensor]],
            inputs: dict[str, Tensor]) -> Callable[[], dict[int, Tensor]]:
    """``forward(inputs)`` recorded as a CUDA graph (after two warm-up runs on a side stream, as
    PyTorch's notes prescribe); returns a replay giving its output buffers (overwritten by the
    next replay). Off CUDA: a plain call on the same buffers."""
    if inputs["input_ids"].device.type != "cuda":
        return lambda: forward(inputs)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            forward(inputs)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, pool=_memory_pool()):
        outputs = forward(inputs)

    def replay() -> dict[int, Tensor]:
        graph.replay()
        return outputs
    return replay


def graphed_pooled(transformer: nn.Module, features: dict[str, Tensor], layers: Sequence[int],
                   pooling: str, dtype: torch.dtype,
                   prepare: Callable[[Architecture, nn.Module], BlockWeights]
                   ) -> dict[int, Tensor]:
    """:func:`dense_pooled` of a static-shape batch (:func:`static_batches`, :func:`pad_to`)
    through its shape's graph, captured at first use (``prepare(arch, block)``: a block's
    inference weights, cached by the caller); outputs are fresh tensors."""
    arch = registry.lookup(transformer)
    weights = tuple(prepare(arch, b) for b in arch.blocks(transformer)[:max(layers)])
    key = (dtype, tuple(sorted(layers)), pooling, tuple(features["input_ids"].shape),
           tuple(sorted(features)))
    graphs = _GRAPHS.setdefault(transformer, collections.OrderedDict())
    graph = graphs.get(key)
    tables = _tables(transformer)
    if (graph is None or graph.tables != tables or len(graph.weights) != len(weights)
            or any(a is not b for a, b in zip(graph.weights, weights, strict=True))):
        graph = _new_graph(arch, transformer, features, weights, layers, pooling, dtype)
        graphs[key] = graph
        while len(graphs) > MAX_GRAPHS:
            graphs.popitem(last=False)
    graphs.move_to_end(key)
    for name, buffer in graph.inputs.items():
        buffer.copy_(features[name], non_blocking=True)
    return {k: v.clone() for k, v in graph.replay().items()}


def _new_graph(arch: Architecture, transformer: nn.Module, features: dict[str, Tensor],
               weights: tuple[BlockWeights, ...], layers: Sequence[int], pooling: str,
               dtype: torch.dtype) -> _Graph:
    inputs = {k: v.clone() for k, v in features.items()}
    length = inputs["input_ids"].shape[1]
    bias = None if arch.bias is None else arch.bias(transformer, length).to(dtype)

    def forward(x: dict[str, Tensor]) -> dict[int, Tensor]:
        return dense_pooled(arch, transformer, x, weights, layers, pooling, dtype, bias)
    return _Graph(weights, _tables(transformer), inputs, capture(forward, inputs))
