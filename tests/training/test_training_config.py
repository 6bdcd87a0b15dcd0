"""Bad configurations fail before the first step with a clear message."""

from __future__ import annotations

import pytest

from workbench.losses import LOSSES
from workbench.training import ConfigError, TrainConfig, train


def test_card_dict_lists_non_defaults_in_card_names():
    cfg = TrainConfig(per_device_train_batch_size=16, warmup_ratio=0.1, precision="bf16")
    card = cfg.to_card_dict()
    assert card["non_default"] == {"per_device_train_batch_size": 16, "warmup_ratio": 0.1,
                                   "bf16": True}
    assert card["all"]["learning_rate"] == 5e-05 and card["all"]["fp16"] is False
    assert card["all"]["adam_epsilon"] == 1e-08 and card["all"]["lr_scheduler_type"] == "linear"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"warmup_ratio": 1.5}, r"warmup_ratio=1.5 is not allowed: in \[0, 1\]"),
    ({"batch_sampler": "shuffled"}, "batch_sampler='shuffled' is not allowed: one of"),
    ({"eval_strategy": "sometimes"}, "eval_strategy='sometimes' is not allowed: one of no, steps"),
    ({"precision": "fp8"}, "precision='fp8' is not allowed"),
    ({"per_device_train_batch_size": 0}, "per_device_train_batch_size=0 is not allowed: an integer >= 1"),
    ({"learning_rate": -1e-4}, "learning_rate=-0.0001 is not allowed: a number >= 0"),
    ({"learning_rate": float("inf")}, "learning_rate=inf is not allowed: a finite number"),
    ({"max_steps": 0}, r"max_steps=0 is not allowed: an integer >= 1 \(or -1\)"),
    ({"max_steps": 2.5}, "max_steps=2.5 is not allowed"),
    ({"eval_steps": 0}, "eval_steps=0 is not allowed"),
])
def test_bad_values_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def _never(event, state):
    raise AssertionError(f"a step ran ({event}) although the configuration is invalid")


def test_batch_larger_than_data(tiny_encoder, stsb_small):
    loss = LOSSES["CoSENTLoss"](tiny_encoder)
    with pytest.raises(ConfigError, match="batch size 64 is larger than the training data"):
        train(tiny_encoder, loss, stsb_small, TrainConfig(per_device_train_batch_size=64,
                                                          track_emissions=False),
              callbacks=[_never])


def test_loss_needing_a_missing_label_column(tiny_encoder, stsb_small):
    loss = LOSSES["CoSENTLoss"](tiny_encoder)
    with pytest.raises(ConfigError, match="needs a label or score column"):
        train(tiny_encoder, loss, stsb_small.remove_columns("score"),
              TrainConfig(track_emissions=False), callbacks=[_never])


def test_loss_needing_more_text_columns(tiny_encoder, stsb_small):
    loss = LOSSES["MultipleNegativesRankingLoss"](tiny_encoder)
    with pytest.raises(ConfigError, match="text columns but the data has 1"):
        train(tiny_encoder, loss, stsb_small.remove_columns(["sentence2"]),
              TrainConfig(track_emissions=False), callbacks=[_never])


def test_dimension_the_model_lacks(tiny_encoder, stsb_small):
    # built without a model (so the loss cannot check its width itself): the trainer checks it
    loss = LOSSES["MatryoshkaLoss"](None, LOSSES["CoSENTLoss"](tiny_encoder), matryoshka_dims=[64, 16])
    with pytest.raises(ConfigError, match="dimension 64 is not available"):
        train(tiny_encoder, loss, stsb_small, TrainConfig(track_emissions=False),
              callbacks=[_never])


def test_fp16_on_cpu_is_refused(tiny_encoder, stsb_small):
    loss = LOSSES["CoSENTLoss"](tiny_encoder)
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        train(tiny_encoder, loss, stsb_small, TrainConfig(precision="fp16", track_emissions=False),
              callbacks=[_never])


def test_layer_the_model_lacks(tiny_encoder, stsb_small):
    loss = LOSSES["StarbucksLoss"](tiny_encoder, LOSSES["CoSENTLoss"](tiny_encoder),
                                   layer_dims=[(1, 8), (7, 32)])
    with pytest.raises(ConfigError, match="layer 7 is not available"):
        train(tiny_encoder, loss, stsb_small, TrainConfig(track_emissions=False),
              callbacks=[_never])
