"""The loop: log layout, exact resume, interruption, NaN stop, collapse verdicts (seed card 004),
emissions."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.evaluators import EmbeddingSimilarityEvaluator
from workbench.losses import LOSSES
from workbench.models.bi_encoder import BiEncoder
from workbench.models.specs import tiny_bert
from workbench.training import TrainConfig, read_log, train
from workbench.training import emissions as emissions_mod
from workbench.training.checkpoint import list_checkpoints


def _m2d(enc: BiEncoder):
    return LOSSES["Matryoshka2dLoss"](enc, LOSSES["CoSENTLoss"](enc), matryoshka_dims=[32, 16, 8])


def _config(out, **kw) -> TrainConfig:
    base = dict(output_dir=str(out), num_train_epochs=2, per_device_train_batch_size=8,
                learning_rate=1e-3, warmup_ratio=0.25, logging_steps=1, eval_strategy="steps",
                eval_steps=2, save_steps=3, gradient_accumulation_steps=1, disable_tqdm=True,
                track_emissions=False)
    return TrainConfig(**{**base, **kw})


def _sts_eval(data):
    return EmbeddingSimilarityEvaluator(data["sentence1"][:16], data["sentence2"][:16],
                                        data["score"][:16], name="sts-dev")


def _weights(enc: BiEncoder) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in enc.state_dict().items()}


class _StopAt:
    def __init__(self, step: int) -> None:
        self.step = step

    def __call__(self, event, state) -> None:
        if event == "save" and state.step == self.step:
            raise KeyboardInterrupt


def test_resume_matches_uninterrupted_run(tiny_bert_dir, stsb_small, tmp_path):
    enc = BiEncoder.from_pretrained(tiny_bert_dir)
    cfg = dict(num_train_epochs=1, save_steps=2, gradient_accumulation_steps=2,
               per_device_train_batch_size=4)
    full = train(enc, _m2d(enc), stsb_small, _config(tmp_path / "full", **cfg),
                 evaluators=[_sts_eval(stsb_small)])
    enc2 = BiEncoder.from_pretrained(tiny_bert_dir)
    cfg_cut = {**cfg, "track_emissions": True}
    with pytest.raises(KeyboardInterrupt):
        train(enc2, _m2d(enc2), stsb_small, _config(tmp_path / "cut", **cfg_cut),
              evaluators=[_sts_eval(stsb_small)], callbacks=[_StopAt(2)])
    assert [p.name for p in list_checkpoints(tmp_path / "cut")] == ["checkpoint-2"]
    kept = read_log(tmp_path / "cut")
    assert kept["Step"].max() == 2 and kept["Training Loss"].notna().all()
    enc3 = BiEncoder.from_pretrained(tiny_bert_dir)
    resumed = train(enc3, _m2d(enc3), stsb_small, _config(tmp_path / "cut", **cfg_cut),
                    evaluators=[_sts_eval(stsb_small)], resume_from=tmp_path / "cut")
    assert resumed.global_step == full.global_step == 4
    _assert_whole_run(resumed, full)
    for name, value in _weights(enc).items():
        torch.testing.assert_close(_weights(enc3)[name], value, atol=1e-6, rtol=0)
    assert resumed.metrics.keys() == full.metrics.keys() and full.metrics
    for key, value in full.metrics.items():
        assert abs(resumed.metrics[key] - value) <= 1e-6, key
    merged, straight = read_log(tmp_path / "cut"), read_log(tmp_path / "full")
    assert list(merged["Step"]) == list(straight["Step"])
    torch.testing.assert_close(torch.tensor(merged["Training Loss"].to_numpy()),
                               torch.tensor(straight["Training Loss"].to_numpy()), atol=1e-6, rtol=0)


def _assert_whole_run(resumed, full) -> None:
    """Time, rows, energy and health of a resumed run cover both parts (the parts added up)."""
    parts = resumed.parts
    assert [(p["step_from"], p["step_to"]) for p in parts] == [(0, 2), (2, 4)]
    assert [p["rows"] for p in parts] == [16, 16] and resumed.train_rows == full.train_rows == 32
    assert resumed.train_seconds == pytest.approx(sum(p["seconds"] for p in parts))
    assert resumed.rows_per_s == pytest.approx(32 / resumed.train_seconds)
    energy = [p["emissions"]["energy_kwh"] for p in parts]
    assert all(e > 0 for e in energy), parts
    assert resumed.emissions["energy_kwh"] == pytest.approx(sum(energy))
    assert resumed.emissions["emissions_kg"] == pytest.approx(
        sum(p["emissions"]["emissions_kg"] for p in parts))
    assert resumed.emissions["parts"] == 2
    assert [h["step"] for h in resumed.health] == [h["step"] for h in full.health] == [2, 4]
    for kept, straight in zip(resumed.health, full.health, strict=True):
        assert kept["probe_mean_cosine"] == pytest.approx(straight["probe_mean_cosine"], abs=1e-6)


def test_log_has_the_seed_card_layout(tiny_encoder, stsb_small, tmp_path):
    result = train(tiny_encoder, _m2d(tiny_encoder), stsb_small,
                   _config(tmp_path, num_train_epochs=1, logging_steps=2),
                   evaluators=[_sts_eval(stsb_small)], eval_dataset=stsb_small.select(range(8)))
    frame = read_log(tmp_path)
    assert list(frame.columns[:4]) == ["Epoch", "Step", "Training Loss", "Validation Loss"]
    assert "sts-dev_spearman_cosine" in frame.columns
    assert list(frame["Step"]) == [2, 4] and list(frame["Epoch"]) == [0.5, 1.0]
    assert frame["Validation Loss"].notna().all() and result.status == "ok"
    events = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert events[-1]["type"] == "end" and events[-1]["status"] == "ok"
    assert {e["type"] for e in events} >= {"train", "eval", "health", "save", "end"}


def test_nan_loss_stops_at_once_with_a_diagnostic(tiny_encoder, stsb_small, tmp_path):
    with torch.no_grad():
        tiny_encoder.transformer.embeddings.word_embeddings.weight[:] = float("nan")
    before = _weights(tiny_encoder)
    result = train(tiny_encoder, LOSSES["CoSENTLoss"](tiny_encoder), stsb_small, _config(tmp_path))
    assert result.status == "degenerate" and result.global_step == 0
    assert result.diagnosis.startswith("training loss is nan at step 1; training stopped")
    assert result.findings[0] == {"level": "degenerate", "check": "divergence",
                                  "message": result.findings[0]["message"]}
    diag = json.loads((tmp_path / "nonfinite_loss.json").read_text())
    assert diag["step"] == 1 and len(diag["batch_texts"]["sentence1"]) == 8
    assert diag["loss_parts"]["column_0"]["nonfinite_values"] > 0
    ln = "transformer.encoder.layer.0.output.LayerNorm.weight"
    torch.testing.assert_close(_weights(tiny_encoder)[ln], before[ln])
    assert "NaN" in result.final_check["3"]["collapse"]


def test_seed_card_004_in_miniature_is_caught(tmp_path, nli_small):
    """Seed card 004 in miniature: a 50-dim BERT whose (zeroed) weights give every text the
    same embedding, trained with MNRL: loss constant at ln(2 x 8 candidates), NaN metrics."""
    enc = BiEncoder.from_pretrained(tiny_bert(tmp_path / "bert50", hidden_size=50, heads=5))
    with torch.no_grad():
        for p in enc.parameters():
            p.zero_()
    evaluator = EmbeddingSimilarityEvaluator(nli_small["anchor"][:16], nli_small["positive"][:16],
                                             [1.0, 0.0] * 8, name="sts-dev")
    result = train(enc, LOSSES["MultipleNegativesRankingLoss"](enc), nli_small,
                   _config(tmp_path / "run", num_train_epochs=4, eval_steps=1),
                   evaluators=[evaluator])
    assert result.status == "degenerate"
    assert result.global_step == 2, "two collapsed evaluations in a row stop the run"
    assert "flat at 2.7726" in result.diagnosis and "identical" in result.diagnosis
    events = [json.loads(x) for x in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    verdict = next(e for e in events if e["type"] == "verdict")
    assert verdict["status"] == "degenerate" and verdict["layers"]["3"]["collapse"]
    evals = [e for e in events if e["type"] == "eval"]
    assert evals[-1]["statuses"] == ["degenerate"] and evals[-1]["metrics"] == {}


def test_collapse_with_a_noisy_loss_is_caught_in_two_evaluations(tiny_encoder, nli_small, tmp_path):
    """lr 1000 (the issue's smoke run): the MNRL loss jumps around, never flat, yet the probe
    embeddings point one way; two evaluations are enough to call it."""
    result = train(tiny_encoder, LOSSES["MultipleNegativesRankingLoss"](tiny_encoder), nli_small,
                   _config(tmp_path, max_steps=4, learning_rate=1000.0, eval_steps=2))
    assert [h["step"] for h in result.health] == [2, 4]
    assert not any(h["loss_flat"] for h in result.health)
    assert result.status == "degenerate", result.health
    assert "point one way" in result.diagnosis and "zero-shot" in result.diagnosis
    assert "2 evaluations in a row (steps 2, 4)" in result.diagnosis
    cosines = [h["probe_mean_cosine"] for h in result.health]
    assert min(cosines) > 0.99 and f"{cosines[-1]:.4f}" in result.diagnosis


def test_healthy_run_is_not_flagged_and_emissions_failure_is_tolerated(
        tiny_encoder, stsb_small, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no power readings")

    monkeypatch.setattr(emissions_mod, "_make_tracker", broken)
    result = train(tiny_encoder, _m2d(tiny_encoder), stsb_small,
                   _config(tmp_path, num_train_epochs=1, eval_steps=1, collapse_patience=1,
                           track_emissions=True))
    assert result.status == "ok" and result.diagnosis is None and result.global_step == 4
    assert result.findings == [] and not any(v["collapse"] for v in result.final_check.values())
    assert all(h["strikes"] == 0 for h in result.health) and len(result.health) == 4
    assert result.emissions["status"] == "unknown" and "no power" in result.emissions["error"]


def test_emissions_are_recorded_offline(tiny_encoder, stsb_small, tmp_path):
    result = train(tiny_encoder, LOSSES["CoSENTLoss"](tiny_encoder), stsb_small,
                   _config(tmp_path, max_steps=2, eval_strategy="no", track_emissions=True))
    em = result.emissions
    assert em["status"] == "ok" and em["energy_kwh"] > 0 and em["emissions_kg"] > 0
    assert em["country"] == "USA" and em["ram_gb"] > 0 and em["cpu_model"]
    assert (tmp_path / "emissions.csv").exists()


def test_cross_encoder_trains_with_bce(tiny_bert_dir, stsb_small, tmp_path):
    from workbench.models.cross_encoder import CrossEncoder

    ce = CrossEncoder.from_pretrained(tiny_bert_dir)
    before = _weights(ce)
    result = train(ce, LOSSES["BinaryCrossEntropyLoss"](ce), stsb_small,
                   _config(tmp_path, max_steps=2, eval_steps=2, max_seq_length=32))
    assert result.status == "ok" and result.global_step == 2
    assert ce.max_length == CrossEncoder.from_pretrained(tiny_bert_dir).max_length  # untouched
    assert 0.0 < result.final_loss < 5.0 and result.health[0]["status"] == "ok"
    changed = [k for k, v in _weights(ce).items() if not torch.equal(v, before[k])]
    assert "model.classifier.weight" in changed


def test_trains_after_a_trainer_left_another_mixed_precision(tiny_bert_dir, stsb_small, tmp_path):
    """A transformers / sentence-transformers Trainer run earlier in the kernel leaves accelerate's
    state at bf16; training here afterwards must not demand a restart."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()  # what a Trainer starting from a fresh kernel sees
    Accelerator(mixed_precision="bf16", cpu=True)
    assert AcceleratorState().mixed_precision == "bf16"
    enc = BiEncoder.from_pretrained(tiny_bert_dir)
    result = train(enc, _m2d(enc), stsb_small.select(range(8)),
                   _config(tmp_path, num_train_epochs=1, eval_strategy="no", save_steps=100))
    assert result.global_step == 1
    assert AcceleratorState().mixed_precision == "no"
