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
    ({"warmup_ratio": 1.5}, "warmup_ratio must lie in"),
    ({"batch_sampler": "shuffled"}, "unknown batch_sampler 'shuffled'"),
    ({"eval_strategy": "sometimes"}, "unknown eval_strategy"),
    ({"precision": "fp8"}, "unknown precision"),
    ({"per_device_train_batch_size": 0}, "per_device_train_batch_size must be >= 1"),
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
