"""Configuration flows one way: notebook parameters -> TrainConfig.from_params -> library."""

from __future__ import annotations

import dataclasses

import pytest

from workbench.training.batches import Columns
from workbench.training.config import ConfigError, TrainConfig


def test_from_params_takes_the_training_settings_and_leaves_the_rest():
    params = {"model": "tiny-bert", "cosent_scale": 20.0, "learning_rate": 1e-4, "seed": 7,
              "per_device_eval_batch_size": 64, "output_dir": "ignored"}
    config = TrainConfig.from_params(params, output_dir="/tmp/run")
    assert (config.learning_rate, config.seed, config.per_device_eval_batch_size) == (1e-4, 7, 64)
    assert config.output_dir == "/tmp/run"
    assert config.max_steps == TrainConfig().max_steps  # not given: the one default


def test_from_params_still_validates():
    with pytest.raises(ConfigError, match="eval_strategy"):
        TrainConfig.from_params({"eval_strategy": "sometimes"})


def test_validate_leaves_eval_steps_alone():
    config = TrainConfig(eval_strategy="steps", logging_steps=7)
    before = dataclasses.asdict(config)
    config.validate()
    assert dataclasses.asdict(config) == before and config.eval_steps is None
    assert config.eval_every == 7
    assert TrainConfig(eval_strategy="steps", eval_steps=3).eval_every == 3


def test_training_truncation_lives_in_the_batches_not_the_model(tiny_encoder):
    long = " ".join(["word"] * 80)
    data = Columns(["a", "b"], [[long], [long]], None, max_length=16)
    data.pretokenize(tiny_encoder)
    assert len(data.tokens[0]["input_ids"][0]) == 16
    assert tiny_encoder.max_seq_length != 16


def test_checkpoints_carry_cuda_rng_states_where_a_gpu_ran(monkeypatch):
    import torch

    from workbench.training import checkpoint

    saved = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: ["gpu0-state"])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", saved.append)
    state = checkpoint.rng_state()
    assert state["cuda"] == ["gpu0-state"]
    checkpoint.set_rng_state(state)
    assert saved == [["gpu0-state"]]
