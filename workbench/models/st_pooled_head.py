"""A cross-encoder whose head reads the mean of the token states, in sentence-transformers' layout.

sentence-transformers 6.x builds a ``CrossEncoder`` from ``modules.json`` like a bi-encoder:
``Transformer`` (feature-extraction: token states) -> ``Pooling("mean")`` -> ``Dense`` (the
head's hidden layer, tanh) -> ``Dense`` (one logit, output ``"scores"``). A reranker trained
with ``classifier_pooling="mean"`` is saved that way (the root keeps the whole Hugging Face
sequence-classification model, which is what :class:`~workbench.models.cross_encoder.CrossEncoder`
reads), so ``sentence_transformers.CrossEncoder(folder)`` (>= 6.0) scores it identically. Older
versions ignore ``modules.json`` for cross-encoders and would read ``[CLS]`` instead.

A head comparing the two texts (``classifier_pooling="segments"``,
:mod:`workbench.models.segment_pooling`) is saved as Transformer -> ``SegmentPooling`` (its code
written beside the weights) -> Dense(score); sentence-transformers loads it with
``trust_remote_code=True``.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

TRANSFORMER = "sentence_transformers.base.modules.transformer.Transformer"
POOLING = "sentence_transformers.sentence_transformer.modules.pooling.Pooling"
DENSE = "sentence_transformers.base.modules.dense.Dense"
TANH = "torch.nn.modules.activation.Tanh"
IDENTITY = "torch.nn.modules.linear.Identity"
SEGMENT_FILE = "segment_pooling.py"
SEGMENT_POOLING = "segment_pooling.SegmentPooling"


def head_layers(model: nn.Module) -> tuple[nn.Linear, nn.Linear] | None:
    """The head's (hidden dense + tanh, output) linear maps: BERT's ``pooler.dense`` and
    ``classifier``, or a RoBERTa-style ``ClassificationHead``'s ``dense`` and ``out_proj``;
    ``None`` for other heads (ModernBERT pools by itself and is saved as it is)."""
    pooler = getattr(model.base_model, "pooler", None)
    if pooler is not None and isinstance(getattr(pooler, "dense", None), nn.Linear):
        return pooler.dense, model.classifier
    head = getattr(model, "classifier", None)
    if isinstance(getattr(head, "dense", None), nn.Linear) and hasattr(head, "out_proj"):
        return head.dense, head.out_proj
    return None


def _dense(folder: Path, linear: nn.Linear, activation: str, output: str) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    config = {"in_features": linear.in_features, "out_features": linear.out_features,
              "bias": linear.bias is not None, "activation_function": activation,
              "module_input_name": "sentence_embedding", "module_output_name": output}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    weights = {"linear.weight": linear.weight.detach().float().contiguous().cpu()}
    if linear.bias is not None:
        weights["linear.bias"] = linear.bias.detach().float().contiguous().cpu()
    save_file(weights, str(folder / "model.safetensors"))


def write_pooled_head(model: nn.Module, folder: str | Path) -> list[dict]:
    """Write ``1_Pooling``, ``2_Dense``, ``3_Dense`` and ``sentence_bert_config.json`` (token
    states) into ``folder``; returns the ``modules.json`` entries."""
    folder = Path(folder)
    layers = head_layers(model)
    if layers is None:
        raise ValueError(f"{type(model).__name__}: a mean-pooled head is written for BERT-style "
                         "(pooler + classifier) and RoBERTa-style (dense + out_proj) heads only")
    hidden, output = layers
    (folder / "1_Pooling").mkdir(parents=True, exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"embedding_dimension": int(model.config.hidden_size), "pooling_mode": "mean",
         "include_prompt": True}, indent=2))
    _dense(folder / "2_Dense", hidden, TANH, "sentence_embedding")
    _dense(folder / "3_Dense", output, IDENTITY, "scores")
    _token_states_config(folder)
    return _modules(["", "1_Pooling", "2_Dense", "3_Dense"], [TRANSFORMER, POOLING, DENSE, DENSE])


def write_segment_head(model: nn.Module, folder: str | Path) -> list[dict]:
    """Write a segment-pooled head (``config.classifier_pooling == "segments"``): the module's
    code as ``segment_pooling.py``, ``1_SegmentPooling`` and ``2_Dense`` (the output layer);
    returns the ``modules.json`` entries. Loading it runs that file, so
    ``sentence_transformers.CrossEncoder`` needs ``trust_remote_code=True``."""
    from workbench.models import segment_pooling

    folder = Path(folder)
    layers = head_layers(model)
    if layers is None:
        raise ValueError(f"{type(model).__name__}: a segment head is written for BERT-style "
                         "(pooler + classifier) and RoBERTa-style (dense + out_proj) heads only")
    (folder / SEGMENT_FILE).write_text(Path(segment_pooling.__file__).read_text())
    (folder / "1_SegmentPooling").mkdir(parents=True, exist_ok=True)
    (folder / "1_SegmentPooling" / "config.json").write_text(json.dumps(
        {"embedding_dimension": int(model.config.hidden_size),
         "sep_token_id": int(model.config.sep_token_id)}, indent=2))
    _dense(folder / "2_Dense", layers[1], IDENTITY, "scores")
    _token_states_config(folder)
    return _modules(["", "1_SegmentPooling", "2_Dense"], [TRANSFORMER, SEGMENT_POOLING, DENSE])


def _token_states_config(folder: Path) -> None:
    (folder / "sentence_bert_config.json").write_text(json.dumps(
        {"transformer_task": "feature-extraction",
         "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
         "module_output_name": "token_embeddings"}, indent=2))


def _modules(paths: list[str], types: list[str]) -> list[dict]:
    return [{"idx": i, "name": str(i), "path": p, "type": t}
            for i, (p, t) in enumerate(zip(paths, types, strict=True))]
