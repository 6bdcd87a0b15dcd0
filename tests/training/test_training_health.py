"""Health verdicts on hand-made probes, losses and grids: each rule fires on what it is for and
stays quiet on a random model's geometry (the smoke presets' tiny BERT: mean cosine ~0.95)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.evaluators.health import embedding_health, participation_ratio, probe_collapse
from workbench.runs.verdict import mark_grid, run_health
from workbench.training.health import CollapseMonitor

RNG = np.random.default_rng(0)


def _cone(n: int, dim: int, spread: float, rank: int | None = None) -> np.ndarray:
    """Unit vectors around one direction; ``spread`` scales the noise, ``rank`` its directions."""
    noise = RNG.normal(size=(n, rank or dim))
    if rank is not None:
        noise = noise @ RNG.normal(size=(rank, dim))
    emb = np.ones(dim) / np.sqrt(dim) + spread * noise / np.sqrt(dim)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


RANDOM_MODEL = _cone(64, 32, 0.3)  # mean pairwise cosine ~0.95, like the tiny random BERT


def test_random_model_geometry_is_not_collapse():
    stats = embedding_health(RANDOM_MODEL)
    assert 0.9 < stats["mean_pairwise_cosine"] < 0.99
    assert probe_collapse(stats, stats) is None and probe_collapse(stats) is None


def test_one_direction_is_judged_against_the_zero_shot_model():
    tight = embedding_health(_cone(64, 32, 0.02))
    base = embedding_health(RANDOM_MODEL)
    reason = probe_collapse(tight, base)
    assert "point one way" in reason and f"{tight['mean_pairwise_cosine']:.4f}" in reason
    assert f"zero-shot {base['mean_pairwise_cosine']:.4f}" in reason
    # a model that started that tight is judged by its metrics, not flagged here
    assert probe_collapse(tight, tight) is None


def test_rank_collapse_and_participation_ratio():
    assert participation_ratio(np.eye(8)) == pytest.approx(7.0, rel=0.05)  # centring removes one
    flat = embedding_health(_cone(64, 32, 0.6, rank=1))
    reason = probe_collapse(flat, embedding_health(RANDOM_MODEL))
    assert flat["participation_ratio"] < 1.5 and "rank-collapsed" in reason


def test_constant_nan_and_constant_scores():
    same = np.tile(RANDOM_MODEL[:1], (64, 1))
    assert "identical" in probe_collapse(embedding_health(same))
    nan = RANDOM_MODEL.copy()
    nan[3, 0] = np.nan
    assert "NaN" in probe_collapse(embedding_health(nan))
    scores = RNG.normal(0.5, 0.1, size=(64, 1))
    flat_scores = 0.5 + (scores - 0.5) * 1e-3
    base = embedding_health(scores)
    assert "nearly constant (std 1.0" in probe_collapse(embedding_health(flat_scores), base)
    assert probe_collapse(embedding_health(scores), base) is None


def test_two_noisy_evaluations_are_enough_and_a_recovery_is_a_warning():
    mon = CollapseMonitor(patience=2)
    mon.set_baseline({"3": RANDOM_MODEL})
    tight = {"3": _cone(64, 32, 0.02)}
    first = mon.update(2, [5.6, 5.1], tight)
    assert first["status"] == "warning" and not first["loss_flat"]
    second = mon.update(4, [5.8, 5.7], tight)
    assert second["status"] == "degenerate" and "steps 2, 4" in second["diagnosis"]
    healthy = CollapseMonitor(patience=2)
    healthy.set_baseline({"3": RANDOM_MODEL})
    healthy.update(2, [1.0], tight)
    assert healthy.update(4, [0.9], {"3": RANDOM_MODEL})["status"] == "ok"
    found = healthy.verdict(healthy.final_check({"3": RANDOM_MODEL}))
    assert [f["level"] for f in found] == ["warning"] and "step(s) 2" in found[0]["message"]


def test_final_layers_and_loss_blowup():
    mon = CollapseMonitor()
    mon.set_baseline({"1": RANDOM_MODEL, "2": RANDOM_MODEL})
    mon.update(2, [0.7, 0.69], {"2": RANDOM_MODEL})
    mon.update(4, [3.5, 3.9], {"2": RANDOM_MODEL})
    found = mon.verdict(mon.final_check({"1": _cone(64, 32, 0.02), "2": RANDOM_MODEL}))
    assert [(f["level"], f["check"]) for f in found] == [("warning", "collapse"),
                                                          ("warning", "divergence")]
    assert "layer(s) 1 of 2" in found[0]["message"] and "blew up from 0.6950" in found[1]["message"]
    state = mon.state_dict()
    again = CollapseMonitor()
    again.load_state_dict(state)
    assert again.state_dict() == state


class _Result:
    status, diagnosis, health, findings, log = "ok", None, [], [], None
    final_check = {"1": {"collapse": None}, "2": {"collapse": None}}


def _grid(values: dict[tuple[int, int], float]) -> pd.DataFrame:
    return pd.DataFrame([{"layer": k[0], "dim": k[1], "spearman_cosine": v, "status": "ok",
                          "diagnosis": None} for k, v in values.items()])


def test_run_verdict_compares_with_the_zero_shot_grid():
    before = _grid({(1, 32): 0.44, (1, 8): 0.29, (2, 32): 0.44, (2, 8): 0.28})
    same = run_health(_Result(), (), {"sts-test_spearman_cosine": 0.43}, before, before)
    assert same["status"] == "ok" and same["diagnosis"] is None
    chance = _grid({(1, 32): -0.05, (1, 8): 0.27, (2, 32): 0.0, (2, 8): -0.1})
    health = run_health(_Result(), (), {"sts-dev_spearman_cosine": 0.05}, before, chance)
    assert health["status"] == "degenerate"
    assert "fell to chance: 0.000 after training, 0.440 zero-shot" in health["diagnosis"]
    assert "sts-dev_spearman_cosine 0.050" in health["diagnosis"]
    assert "2 of 4 grid cells (layer x dim: 1x32, 2x8)" in health["diagnosis"]
    worse = _grid({(1, 32): 0.44, (1, 8): 0.29, (2, 32): 0.2, (2, 8): 0.28})
    assert run_health(_Result(), (), {}, before, worse)["status"] == "warning"
    random_start = _grid({(1, 32): 0.05, (1, 8): -0.02, (2, 32): 0.03, (2, 8): 0.0})
    assert run_health(_Result(), (), {"x_spearman": -0.01}, random_start,
                      random_start)["status"] == "ok"


def test_a_metric_that_fell_to_chance_during_training_is_caught():
    result = _Result()
    result.log = pd.DataFrame({"Step": [10, 20, 30], "Training Loss": [0.6, 0.5, 0.9],
                               "stsb-validation_spearman": [0.55, 0.61, 0.04]})
    health = run_health(result)
    assert health["status"] == "degenerate"
    assert health["diagnosis"] == ("stsb-validation_spearman fell to chance during training: "
                                   "0.610 at step 20, 0.040 at step 30")
    result.log["stsb-validation_spearman"] = [0.05, 0.02, 0.06]  # never above chance: no finding
    assert run_health(result)["status"] == "ok"


def test_collapsed_layers_are_marked_in_the_grid():
    result = _Result()
    result.final_check = {"1": {"collapse": "layer 1 probe embeddings point one way"},
                          "2": {"collapse": None}}
    before = _grid({(1, 32): 0.44, (2, 32): 0.44})
    health = run_health(result, (), {}, before, before)
    assert health["collapsed_layers"] == [1]
    marked = mark_grid(before, health)
    assert list(marked["status"]) == ["degenerate", "ok"]
    assert marked["diagnosis"][0] == "layer 1 probe embeddings point one way"
