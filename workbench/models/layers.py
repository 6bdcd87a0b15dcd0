"""Where a Hugging Face encoder keeps its transformer blocks, and cutting it to the first k.

One lookup serves the grid's per-depth latency (:func:`cut_blocks`, temporary), the reranker grid
and :func:`workbench.models.export.cut_encoder` (permanent, on a copy).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn

LAYER_LISTS = ("encoder.layer", "transformer.layer", "encoder.layers", "layers")
"""Where Hugging Face encoders keep their block list (BERT/RoBERTa/DeBERTa/MPNet, DistilBERT, ...)."""


def layer_holder(transformer: nn.Module) -> tuple[nn.Module, str]:
    """The module holding the block list and the list's attribute name (``(bert.encoder, "layer")``)."""
    for path in LAYER_LISTS:
        *parents, leaf = path.split(".")
        holder = transformer
        for part in parents:
            holder = getattr(holder, part, None)
        if isinstance(getattr(holder, leaf, None), nn.ModuleList):
            return holder, leaf
    raise NotImplementedError(
        f"cannot cut {type(transformer).__name__} to fewer layers: no nn.ModuleList at any of "
        f"{', '.join(LAYER_LISTS)}; cutting needs a BERT-like block list "
        "(for the grid's latency per depth, pass measure_latency=False to skip it)")


def layer_list(transformer: nn.Module) -> nn.ModuleList:
    """The transformer's stack of blocks (``transformer.encoder.layer`` for BERT)."""
    holder, leaf = layer_holder(transformer)
    return getattr(holder, leaf)


@contextlib.contextmanager
def cut_blocks(transformer: nn.Module, k: int) -> Iterator[nn.Module]:
    """Temporarily keep only the first ``k`` blocks of a Hugging Face ``transformer``.

    Sets ``config.num_hidden_layers = k`` too; blocks and config are restored on exit, even
    after an error. Shared by the bi-encoder grid and the reranker's per-layer grid.
    """
    holder, leaf = layer_holder(transformer)
    blocks, config = getattr(holder, leaf), transformer.config
    if not 1 <= k <= len(blocks):
        raise ValueError(f"layer {k} is not available: the model has layers 1..{len(blocks)}")
    depth = config.num_hidden_layers
    setattr(holder, leaf, nn.ModuleList(list(blocks)[:k]))
    config.num_hidden_layers = k
    try:
        yield transformer
    finally:
        setattr(holder, leaf, blocks)
        config.num_hidden_layers = depth
