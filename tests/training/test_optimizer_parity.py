"""The optimizer, its parameter groups and the learning-rate schedule equal the reference
trainer's (sentence-transformers 6.2 on the Hugging Face Trainer), and so does a reranker's
randomly initialised head after the same ``set_seed``."""

from __future__ import annotations

import re

import pytest
import torch
from datasets import Dataset
from sentence_transformers import (
    SentenceTransformer,
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
)
from sentence_transformers.cross_encoder import CrossEncoder as STCrossEncoder
from sentence_transformers.sentence_transformer import losses as st_losses
from transformers import set_seed

from workbench.losses import LOSSES
from workbench.models.bi_encoder import BiEncoder
from workbench.models.cross_encoder import CrossEncoder
from workbench.training import TrainConfig
from workbench.training.optim import make_optimizer, make_scheduler

STEPS = 90
HPARAMS = dict(learning_rate=5e-5, warmup_ratio=0.1, weight_decay=0.01, adam_epsilon=1e-7)


def _reference(model_dir, tmp_path) -> SentenceTransformerTrainer:
    model = SentenceTransformer(str(model_dir), device="cpu")
    data = Dataset.from_dict({"sentence1": ["a b"] * 4, "sentence2": ["c d"] * 4, "score": [0.5] * 4})
    args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[],
                                                **HPARAMS)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                         loss=st_losses.CoSENTLoss(model))
    trainer.create_optimizer_and_scheduler(num_training_steps=STEPS)
    return trainer


def _bert_name(name: str) -> str:
    """The name inside the BERT, whatever wraps it (``0.auto_model.``, ``transformer.``, ...)."""
    return re.search(r"(embeddings|encoder|pooler)\..*", name).group(0)


def _groups(optimizer: torch.optim.Optimizer, names: dict[int, str]) -> dict[str, float]:
    """Parameter name (inside the BERT) -> the weight decay its group applies."""
    return {names[id(p)]: g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}


def _lrs(optimizer: torch.optim.Optimizer, scheduler) -> list[float]:
    rates = []
    for _ in range(STEPS):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return rates


def test_optimizer_groups_and_schedule_equal_the_reference(tiny_bert_dir, tmp_path):
    ref = _reference(tiny_bert_dir, tmp_path)
    enc = BiEncoder.from_pretrained(tiny_bert_dir)
    loss = LOSSES["CoSENTLoss"](enc)
    ours = make_optimizer(loss, TrainConfig(**HPARAMS))
    ours_sched = make_scheduler(ours, TrainConfig(**HPARAMS), STEPS)
    ref_names = {id(p): _bert_name(n) for n, p in ref.model.named_parameters()}
    our_names = {id(p): _bert_name(n) for n, p in loss.named_parameters()}
    groups = _groups(ours, our_names)
    assert groups == _groups(ref.optimizer, ref_names)
    assert {0.0, 0.01} == set(groups.values())  # both groups are used
    for key in ("betas", "eps", "fused"):
        assert ours.defaults[key] == ref.optimizer.defaults[key], key
    assert _lrs(ours, ours_sched) == pytest.approx(_lrs(ref.optimizer, ref.lr_scheduler), abs=1e-12)


def test_reranker_head_initialises_as_the_reference(tiny_bert_dir):
    """A bi-encoder folder (no classifier) turned into a reranker: the new head is drawn alike."""
    folder = tiny_bert_dir
    set_seed(7)
    ref = STCrossEncoder(str(folder), num_labels=1, device="cpu").model.state_dict()
    set_seed(7)
    ours = CrossEncoder.from_pretrained(folder).model.state_dict()
    assert ref.keys() == ours.keys()
    for name in ("classifier.weight", "classifier.bias"):
        torch.testing.assert_close(ours[name], ref[name], atol=0, rtol=0)
