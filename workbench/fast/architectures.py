"""The encoder families with a padding-free fast path: BERT, RoBERTa, XLM-R, DistilBERT, MPNet.

Each entry reads a Hugging Face model as the registry's generic post-LN block
(:class:`~workbench.fast.registry.BlockWeights`) plus its own embeddings: BERT and DistilBERT
number positions 0..L-1 in the padded row; RoBERTa, XLM-R and MPNet count non-padding ids from
``padding_idx + 1`` (fairseq's ``make_positions``, as Hugging Face does); MPNet adds a learned
relative-position bias to the attention scores (T5-style buckets, Song et al. 2020).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import (
    BertForSequenceClassification,
    BertModel,
    DistilBertForSequenceClassification,
    DistilBertModel,
    MPNetForSequenceClassification,
    MPNetModel,
    RobertaForSequenceClassification,
    RobertaModel,
    XLMRobertaForSequenceClassification,
    XLMRobertaModel,
)

from workbench.fast.dropout import dropout
from workbench.fast.registry import (
    Architecture,
    BlockWeights,
    Classifier,
    register,
    register_classifier,
)
from workbench.fast.sparse_grads import word_rows


def _lin(layer: nn.Linear) -> tuple[Tensor, Tensor | None]:
    return layer.weight, layer.bias


def _stack(*layers: nn.Linear) -> tuple[Tensor, Tensor]:
    """Query, key and value maps as one (3 out, in) map: one GEMM instead of three."""
    return torch.cat([m.weight for m in layers]), torch.cat([m.bias for m in layers])


def _ln(norm: nn.LayerNorm) -> tuple[Tensor, Tensor, float]:
    return norm.weight, norm.bias, norm.eps


def _p(dropout: nn.Module) -> float:
    return float(dropout.p) if dropout.training else 0.0


def _sum_embed(emb: nn.Module, ids: Tensor, positions: Tensor, types: Tensor | None) -> Tensor:
    """word (+ token type) + position embeddings of flat token rows, LayerNorm, dropout."""
    hidden = word_rows(emb.word_embeddings, ids)
    if types is not None:
        hidden = hidden + emb.token_type_embeddings(types)
    hidden = hidden + emb.position_embeddings(positions)
    return dropout(emb.LayerNorm(hidden), _p(emb.dropout))


def _row_positions(emb: nn.Module, ids: Tensor) -> Tensor:
    """Position ``j`` of every slot of the padded ``(batch, longest)`` ids (BERT, DistilBERT)."""
    batch, length = ids.shape
    return emb.position_ids[0, :length].expand(batch, length)


def _counted_positions(emb: nn.Module, ids: Tensor) -> Tensor:
    """``padding_idx + cumsum(ids != padding_idx)`` on real ids (RoBERTa, XLM-R, MPNet)."""
    real = ids.ne(emb.padding_idx).int()
    return (torch.cumsum(real, dim=1).type_as(real) * real).long() + emb.padding_idx


def _types(features: dict[str, Tensor], keep: Tensor, like: Tensor) -> Tensor:
    types = features.get("token_type_ids")
    return torch.zeros_like(like) if types is None else types.reshape(-1)[keep]


def bert_embed(model: nn.Module, features: dict[str, Tensor], keep: Tensor) -> Tensor:
    ids = features["input_ids"]
    positions = _row_positions(model.embeddings, ids).reshape(-1)[keep]
    return _sum_embed(model.embeddings, ids.reshape(-1)[keep], positions,
                      _types(features, keep, positions))


def roberta_embed(model: nn.Module, features: dict[str, Tensor], keep: Tensor) -> Tensor:
    ids = features["input_ids"]
    positions = _counted_positions(model.embeddings, ids).reshape(-1)[keep]
    return _sum_embed(model.embeddings, ids.reshape(-1)[keep], positions,
                      _types(features, keep, positions))


def distilbert_embed(model: nn.Module, features: dict[str, Tensor], keep: Tensor) -> Tensor:
    ids = features["input_ids"]
    positions = _row_positions(model.embeddings, ids).reshape(-1)[keep]
    return _sum_embed(model.embeddings, ids.reshape(-1)[keep], positions, None)


def mpnet_embed(model: nn.Module, features: dict[str, Tensor], keep: Tensor) -> Tensor:
    ids = features["input_ids"]
    positions = _counted_positions(model.embeddings, ids).reshape(-1)[keep]
    return _sum_embed(model.embeddings, ids.reshape(-1)[keep], positions, None)


def bert_block(layer: nn.Module) -> BlockWeights:
    """``BertLayer`` / ``RobertaLayer`` / ``XLMRobertaLayer``."""
    att, so, out = layer.attention.self, layer.attention.output, layer.output
    return BlockWeights(_stack(att.query, att.key, att.value), _lin(so.dense), _ln(so.LayerNorm),
                        _lin(layer.intermediate.dense), layer.intermediate.intermediate_act_fn,
                        _lin(out.dense), _ln(out.LayerNorm), att.num_attention_heads, att.scaling,
                        (_p(att.dropout), _p(so.dropout), _p(out.dropout)))


def distilbert_block(layer: nn.Module) -> BlockWeights:
    """``TransformerBlock``: no dropout after the attention output map."""
    att, ffn = layer.attention, layer.ffn
    return BlockWeights(_stack(att.q_lin, att.k_lin, att.v_lin), _lin(att.out_lin),
                        _ln(layer.sa_layer_norm), _lin(ffn.lin1), ffn.activation, _lin(ffn.lin2),
                        _ln(layer.output_layer_norm), att.n_heads, att.scaling,
                        (_p(att.dropout), 0.0, _p(ffn.dropout)))


def mpnet_block(layer: nn.Module) -> BlockWeights:
    """``MPNetLayer`` (scores divided by sqrt(head size), as ``MPNetSelfAttention``)."""
    outer, att, out = layer.attention, layer.attention.attn, layer.output
    return BlockWeights(_stack(att.q, att.k, att.v), _lin(att.o), _ln(outer.LayerNorm),
                        _lin(layer.intermediate.dense), layer.intermediate.intermediate_act_fn,
                        _lin(out.dense), _ln(out.LayerNorm), att.num_attention_heads,
                        att.attention_head_size ** -0.5,
                        (_p(att.dropout), _p(outer.dropout), _p(out.dropout)))


def mpnet_bias(model: nn.Module, longest: int) -> Tensor:
    """MPNet's relative-position bias for ``longest`` slots, by its own ``compute_position_bias``."""
    probe = torch.empty(1, longest, device=model.embeddings.position_ids.device)
    return model.encoder.compute_position_bias(probe)


def _bert_unsupported(model: nn.Module) -> str | None:
    cfg = model.config
    if cfg.is_decoder or getattr(cfg, "add_cross_attention", False):
        return "decoder or cross-attention configuration"
    if getattr(cfg, "position_embedding_type", "absolute") != "absolute":
        return f"position_embedding_type={cfg.position_embedding_type}"
    if getattr(cfg, "chunk_size_feed_forward", 0):
        return "chunked feed-forward"
    return None


def _chunked(model: nn.Module) -> str | None:
    return "chunked feed-forward" if getattr(model.config, "chunk_size_feed_forward", 0) else None


BERT = Architecture("BERT", bert_embed, lambda m: m.encoder.layer, bert_block,
                    unsupported=_bert_unsupported)
ROBERTA = Architecture("RoBERTa", roberta_embed, lambda m: m.encoder.layer, bert_block,
                       unsupported=_bert_unsupported)
DISTILBERT = Architecture("DistilBERT", distilbert_embed, lambda m: m.transformer.layer,
                          distilbert_block, unsupported=_chunked)
MPNET = Architecture("MPNet", mpnet_embed, lambda m: m.encoder.layer, mpnet_block, mpnet_bias)

register(BertModel, BERT)
register(RobertaModel, ROBERTA)
register(XLMRobertaModel, ROBERTA)
register(DistilBertModel, DISTILBERT)
register(MPNetModel, MPNET)


def _bert_head(model: nn.Module, first: Tensor) -> Tensor:
    """Pooler (dense + tanh on ``[CLS]``), dropout, classifier."""
    return model.classifier(model.dropout(model.bert.pooler(first.unsqueeze(1))))


def _first_token_head(model: nn.Module, first: Tensor) -> Tensor:
    """RoBERTa/XLM-R/MPNet ``ClassificationHead``: reads ``features[:, 0]``."""
    return model.classifier(first.unsqueeze(1))


def _distilbert_head(model: nn.Module, first: Tensor) -> Tensor:
    """pre_classifier, ReLU, dropout, classifier on the first token."""
    return model.classifier(model.dropout(F.relu(model.pre_classifier(first))))


register_classifier(BertForSequenceClassification, Classifier(lambda m: m.bert, _bert_head))
for _cls in (RobertaForSequenceClassification, XLMRobertaForSequenceClassification):
    register_classifier(_cls, Classifier(lambda m: m.roberta, _first_token_head))
register_classifier(DistilBertForSequenceClassification,
                    Classifier(lambda m: m.distilbert, _distilbert_head))
register_classifier(MPNetForSequenceClassification, Classifier(lambda m: m.mpnet, _first_token_head))
