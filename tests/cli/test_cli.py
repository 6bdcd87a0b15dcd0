"""The workbench command: grid and export on tiny assets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from workbench.cli import main as cli

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "fixtures" / "tiny_stsb.csv"


def test_grid_prints_and_writes_grid_csv(tiny_bert_dir, tmp_path, capsys):
    code = cli.main(["grid", str(tiny_bert_dir), "--data", str(FIXTURE), "--dims", "32", "8",
                     "--no-latency", "--out", str(tmp_path)])
    assert code == 0
    frame = pd.read_csv(tmp_path / "grid.csv")
    assert sorted(zip(frame.layer, frame.dim, strict=True)) == [(k, d) for k in (1, 2, 3)
                                                               for d in (8, 32)]
    assert frame.spearman_cosine.between(-1, 1).all()
    out = capsys.readouterr().out
    assert "spearman_cosine" in out and f"wrote {tmp_path / 'grid.csv'}" in out


def test_grid_on_named_data_default_out(tiny_bert_dir, tmp_path, monkeypatch, capsys, shared_data):
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path))
    cli.main(["grid", str(tiny_bert_dir), "--data", "stsb", "--split", "test", "--max-samples",
              "30", "--layers", "3", "--dims", "16", "--no-latency"])
    written = list(tmp_path.glob("*-grid-*/grid.csv"))
    assert len(written) == 1 and len(pd.read_csv(written[0])) == 1


def test_export_command_prints_size_and_speedup(tiny_bert_dir, tmp_path, capsys):
    cli.main(["export", str(tiny_bert_dir), "--layers", "2", "--dim", "16", "--out",
              str(tmp_path / "cut"), "--repeats", "1", "--sample", "16"])
    out = capsys.readouterr().out
    assert "size on disk" in out and "speed-up x" in out
    assert (tmp_path / "cut" / "2_Dense" / "config.json").exists()


def test_parser_knows_its_subcommands(capsys):
    assert cli.main(["export", "m", "--dim", "8", "--out", "x"]) == 2  # --layers is required
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--layers" in err and "Traceback" not in err
    assert {"grid", "export"} <= set(cli.build_parser()._subparsers._group_actions[0].choices)
