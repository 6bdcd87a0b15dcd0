"""Issue 12.1: the smoke run at learning rate 1000 (seed card 004's failure with a noisy loss)
is flagged end to end: metrics.json health, marked grid, a card that warns and publishes no
metric, the CLI verdict line and ``--strict``'s exit code, also through ``sweep --strict``."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from workbench.cli import main as cli
from workbench.cli import runs as cli_runs
from workbench.runs import folder as run_folder


@pytest.fixture(scope="module")
def collapsed(tmp_path_factory) -> tuple[int, str]:
    out = tmp_path_factory.mktemp("runs") / "lr1000"
    code = cli.main(["run", "adaptive_layer", "--preset", "smoke", "--quiet", "--strict",
                     "--out", str(out), "-p", "learning_rate", "1000.0"])
    return code, out


@pytest.mark.slow
def test_lr1000_run_is_degenerate_with_numbers(collapsed, capsys):
    code, out = collapsed
    assert code == cli_runs.STRICT_EXIT
    health = run_folder.read_metrics(out)["health"]
    assert health["status"] == "degenerate"
    assert "point one way (mean pairwise cosine 0.99" in health["diagnosis"]
    # the collapsed model's final Spearman is noise (-0.218, 0.177 or 0.383 as the kernels' sums
    # are ordered on each processor): a quality finding with its numbers, for the full model or
    # for the smaller cells, whichever fell
    quality = [f["message"] for f in health["findings"] if f["check"] == "quality"]
    assert quality, health["diagnosis"]
    assert all(re.search(r"spearman_cosine of the full model \(layer 3, 32 dims\) (fell to "
                         r"chance: -?0\.\d+ after training|is 0\.\d+ below the zero-shot model)"
                         r"|\d of 9 grid cells \(layer x dim: \dx\d+(, \dx\d+)*\) fell to "
                         r"spearman_cosine <= 0\.1", m) for m in quality), quality
    assert health["collapsed_layers"] == [1, 2, 3] and len(health["checks"]) == 2
    grid = run_folder.read_metrics(out)["grid_after"]
    assert (grid["status"] == "degenerate").all()
    assert run_folder.check_run_folder(out) == []  # a finished run, flagged, not a failed one
    status, line = cli_runs.read_verdict(out)
    assert status == "degenerate" and line.startswith("verdict: degenerate: layer 3 probe")


@pytest.mark.slow
def test_lr1000_card_warns_and_publishes_no_metric(collapsed):
    _, out = collapsed
    text = (out / "README.md").read_text()
    meta = yaml.safe_load(text.split("---\n")[1])
    assert "model-index" not in meta and "degenerate-run" in meta["tags"]
    top = text.split("---\n", 2)[2].split("## Model Details")[0]
    assert "DEGENERATE RUN" in top and "point one way" in top
    assert "none of its layers is a usable embedding" in top
    assert "Every one of its" not in text and "| 3 (collapsed) |" in text
    assert "Cutting the model down" not in text


@pytest.mark.slow
def test_sweep_strict_fails_on_an_unhealthy_point(collapsed, tmp_path, monkeypatch, capsys):
    _, bad = collapsed
    record = json.loads((bad / "metrics.json").read_text())
    good = tmp_path / "good"
    good.mkdir()
    record["health"] = {"status": "ok", "diagnosis": None}
    (good / "metrics.json").write_text(json.dumps(record))
    folders = iter([good, bad])
    monkeypatch.setattr(cli_runs, "_execute", lambda args, params: next(folders))
    monkeypatch.setattr(cli_runs, "_write_comparison", lambda dirs, out: None)
    argv = ["sweep", "adaptive_layer", "--preset", "smoke", "--grid", "learning_rate=1e-4,1000"]
    assert cli.main([*argv, "--strict"]) == cli_runs.STRICT_EXIT
    out = capsys.readouterr().out
    assert "verdict: ok\n" in out and "verdict: degenerate: " in out
    assert "2 run(s) finished (1 not healthy), 0 failed" in out
    folders = iter([good, bad])
    assert cli.main(argv) == 0
