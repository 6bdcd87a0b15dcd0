"""Tiny random encoders of every fast-path architecture, built from configs (no download)."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    BertConfig,
    DebertaV2Config,
    DistilBertConfig,
    MPNetConfig,
    RobertaConfig,
    XLMRobertaConfig,
)

VOCAB = 99
SIZES = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
             intermediate_size=64, max_position_embeddings=64)
CONFIGS = {
    "bert": lambda **kw: BertConfig(**SIZES, type_vocab_size=2, **kw),
    "roberta": lambda **kw: RobertaConfig(**SIZES, pad_token_id=1, **kw),
    "xlm-roberta": lambda **kw: XLMRobertaConfig(**SIZES, pad_token_id=1, type_vocab_size=1, **kw),
    "distilbert": lambda **kw: DistilBertConfig(
        vocab_size=VOCAB, dim=32, n_layers=3, n_heads=4, hidden_dim=64, max_position_embeddings=64,
        pad_token_id=0, **{"dropout": kw.get("hidden_dropout_prob", 0.1),
                           "attention_dropout": kw.get("attention_probs_dropout_prob", 0.1),
                           "seq_classif_dropout": kw.get("hidden_dropout_prob", 0.1),
                           **{k: v for k, v in kw.items() if "dropout" not in k}}),
    "mpnet": lambda **kw: MPNetConfig(**SIZES, pad_token_id=1, **kw),
}
FAST = tuple(CONFIGS)
LENGTHS = [11, 3, 7, 1, 16, 9]


def config(arch: str, **kwargs):
    if arch == "deberta-v2":
        return DebertaV2Config(**SIZES, **kwargs)
    return CONFIGS[arch](**kwargs)


def build(arch: str, head: bool = False, seed: int = 0, **kwargs) -> torch.nn.Module:
    """A random encoder (or, with ``head``, a one-logit sequence classifier) of ``arch``."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    torch.manual_seed(seed)
    cfg = config(arch, **({"num_labels": 1} if head else {}), **kwargs)
    model = (AutoModelForSequenceClassification if head else AutoModel).from_config(cfg)
    return model.eval()


def pad_id(model: torch.nn.Module) -> int:
    return int(model.config.pad_token_id or 0)


def features(model: torch.nn.Module, lengths=LENGTHS, pairs: bool = False, seed: int = 1,
             left: bool = False) -> dict[str, torch.Tensor]:
    """Right-padded random ids (never the pad id) of these lengths; ``pairs``: token types."""
    gen = torch.Generator().manual_seed(seed)
    pad, longest = pad_id(model), max(lengths)
    ids = torch.full((len(lengths), longest), pad)
    mask = torch.zeros(len(lengths), longest, dtype=torch.long)
    types = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        row = torch.randint(2, VOCAB, (n,), generator=gen)
        row[row == pad] = pad + 1
        ids[i, :n], mask[i, :n], types[i, n // 2:n] = row, 1, 1
    out = {"input_ids": ids, "attention_mask": mask}
    if pairs:
        out["token_type_ids"] = types
    if left:
        out = {k: torch.stack([torch.roll(r, longest - n) for r, n in zip(v, lengths, strict=True)])
               for k, v in out.items()}
    return out


def hf_pooled(model: torch.nn.Module, feats: dict[str, torch.Tensor],
              mode: str = "mean") -> list[torch.Tensor]:
    """The reference: Hugging Face's padded forward of ``feats``, every hidden state (0 = the
    embeddings) pooled by ``mode`` over the attention mask."""
    from workbench.models.bi_encoder import pool

    with torch.no_grad():
        states = model(**feats, output_hidden_states=True).hidden_states
    return [pool(s, feats["attention_mask"], mode) for s in states]


@pytest.fixture(params=FAST)
def arch(request) -> str:
    return request.param


@pytest.fixture()
def threads(request):
    """torch's thread count set to the test's parameter (``indirect``), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)
