"""A real ``workbench run`` killed with SIGKILL after its first checkpoint, resumed, interrupted
with Ctrl-C (SIGINT), resumed again: every final number equals an uninterrupted run's, and the
time and energy are the sums of the parts.

Four smoke executions of a 3-layer, 32-dim BERT (12 steps, a checkpoint every 4).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from workbench.cli import main as cli
from workbench.runs import folder as run_folder
from workbench.runs import record

PARAMS = ["-p", "max_steps", "12", "-p", "save_steps", "4", "-p", "eval_steps", "4",
          "-p", "logging_steps", "2"]
pytestmark = pytest.mark.slow


def _cli(*args: str) -> subprocess.Popen:
    code = "import sys; from workbench.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the run ended before {path.name}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.02)


def _killed_after_first_checkpoint(run_dir: Path) -> int:
    proc = _cli("run", "matryoshka_2d", "--preset", "smoke", "--out", str(run_dir), *PARAMS,
                "-p", "track_emissions", "true")
    _wait_for(run_dir / "checkpoint-4" / "state.pt", proc)
    proc.send_signal(signal.SIGKILL)  # kill -9: nothing of the command runs any more
    kernel = record.read_progress(run_dir).get("pid")
    if kernel:  # a crash takes the kernel too (alone it would notice within a second)
        os.kill(kernel, signal.SIGKILL)
    proc.communicate()
    return max(int(p.name.split("-")[1]) for p in run_dir.glob("checkpoint-*"))


def _model(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "model" / "model.safetensors"))


def _assert_same_final_numbers(resumed: Path, straight: Path) -> None:
    got, want = run_folder.read_metrics(resumed), run_folder.read_metrics(straight)
    assert got["metrics"] == want["metrics"] and want["metrics"]
    quality = [c for c in want["grid_after"].columns if c != "latency_ms_per_1k"]
    pd.testing.assert_frame_equal(got["grid_after"][quality], want["grid_after"][quality])
    weights, reference = _model(resumed), _model(straight)
    assert weights.keys() == reference.keys()
    assert all(torch.equal(weights[k], reference[k]) for k in reference), "not bit-identical"
    for key in ("steps", "rows", "final_loss"):
        assert got["training"][key] == want["training"][key], key
    pd.testing.assert_frame_equal(pd.read_csv(resumed / "train_log.csv"),
                                  pd.read_csv(straight / "train_log.csv"))
    assert [c["step"] for c in got["health"]["checks"]] == [
        c["step"] for c in want["health"]["checks"]] == [4, 8, 12]


def _assert_parts_add_up(metrics: dict) -> None:
    training, parts = metrics["training"], metrics["training"]["parts"]
    assert len(parts) == 3 and parts[0]["step_from"] == 0 and parts[-1]["step_to"] == 12
    assert all(a["step_to"] == b["step_from"] for a, b in zip(parts, parts[1:], strict=False))
    assert parts[0]["step_to"] % 4 == 0 and parts[0]["step_to"] >= 4
    assert sum(p["rows"] for p in parts) == training["rows"]
    assert training["seconds"] == pytest.approx(sum(p["seconds"] for p in parts))
    assert training["rows_per_s"] == pytest.approx(training["rows"] / training["seconds"])
    energy = [p["energy_kwh"] for p in parts]
    assert all(e is not None and e >= 0 for e in energy) and sum(energy) > 0
    assert metrics["emissions"]["energy_kwh"] == pytest.approx(sum(energy))
    assert metrics["emissions"]["emissions_kg"] == pytest.approx(
        sum(p["emissions_kg"] for p in parts))


def test_sigkill_then_ctrl_c_then_resume_equals_an_uninterrupted_run(tmp_path, capsys):
    straight, cut = tmp_path / "straight", tmp_path / "cut"
    quiet = _cli("run", "matryoshka_2d", "--preset", "smoke", "--quiet", "--out", str(straight),
                 *PARAMS, "-p", "report_to", "tensorboard")
    killed_at = _killed_after_first_checkpoint(cut)
    assert killed_at < 12
    assert quiet.wait() == 0
    assert "train " not in quiet.stdout.read()  # --quiet: no progress lines

    assert record.effective_status(cut) == "stale"
    assert any("stale run" in p for p in run_folder.check_run_folder(cut))
    assert cli.main(["compare", str(cut), "--out", str(tmp_path / "cmp")]) == 2
    assert "stale run" in capsys.readouterr().err

    second = _cli("run", "matryoshka_2d", "--resume", str(cut))
    _wait_for(cut / f"checkpoint-{killed_at + 4}" / "state.pt", second)
    assert cli.main(["run", "matryoshka_2d", "--resume", str(cut)]) == 1  # one writer only
    assert f"pid {second.pid} on" in capsys.readouterr().err
    second.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = second.communicate(timeout=120)
    assert second.returncode == 130, err
    run = record.read_record(cut)
    assert run["status"] == "interrupted" and run["resumed_from"]["status"] == "stale"
    cell, step = run["interruption"]["cell_index"], run["step"]["step"]
    assert step >= killed_at + 4 and f"cell {cell}/" in err and f"training step {step}/12" in err

    third = _cli("run", "matryoshka_2d", "--resume", str(cut))
    out, err = third.communicate(timeout=600)
    assert third.returncode == 0, err
    assert "[cell " in out and "train 12/12 (100%)" in out and "ETA" in out  # progress streamed
    run = record.read_record(cut)
    assert run["status"] == "ok" and [a["status"] for a in run["attempts"]] == [
        "killed", "interrupted", "ok"]
    assert not (cut / ".lock").exists()
    _assert_same_final_numbers(cut, straight)
    _assert_parts_add_up(json.loads((cut / "metrics.json").read_text()))
    assert "Trained in 3 parts" in (cut / "README.md").read_text()  # the card: the whole run
    _assert_tensorboard_has_the_run(straight)


def _assert_tensorboard_has_the_run(run_dir: Path) -> None:
    """``-p report_to tensorboard``: losses, evaluations, both grids and final metrics."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(run_dir / "tensorboard"))
    board.Reload()
    scalars = board.Tags()["scalars"]
    assert [e.step for e in board.Scalars("train/loss")] == [2, 4, 6, 8, 10, 12]
    assert [e.step for e in board.Scalars("eval/sts-dev_spearman_cosine")] == [4, 8, 12]
    final = run_folder.read_metrics(run_dir)["metrics"]["sts-test_spearman_cosine"]
    assert board.Scalars("final/sts-test_spearman_cosine")[0].value == pytest.approx(final)
    assert any(t.startswith("grid_before/") for t in scalars)
    assert any(t.startswith("grid_after/spearman_cosine/layer3_dim32") for t in scalars)
