"""Two CPU processes (gloo): a few steps end with identical weights; a loss that turns NaN on
one rank stops both at the same step with the same verdict (one launch serves both tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from workbench.models.bi_encoder import BiEncoder

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.fixture(scope="module")
def ddp_run(tiny_bert_dir, shared_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--standalone", str(WORKER), str(tiny_bert_dir),
           str(shared_data / "stsb" / "train.parquet"), str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=300)
    finally:  # a hung run must not leave its workers behind
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    return out


def test_two_processes_finish_with_identical_weights(ddp_run, tiny_bert_dir):
    ranks = [json.loads((ddp_run / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and [r["steps"] for r in ranks] == [3, 3]
    assert ranks[0]["rows"] == 3 * 4 * 2 and [r["status"] for r in ranks] == ["ok", "ok"]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["sum"] == ranks[1]["sum"] and ranks[0]["sq"] == ranks[1]["sq"]
    start = BiEncoder.from_pretrained(tiny_bert_dir)
    initial = torch.cat([p.detach().flatten().double() for p in start.parameters()])
    assert abs(ranks[0]["sq"] - float((initial ** 2).sum())) > 1e-6, "training changed no weight"


def test_nan_loss_on_one_rank_stops_both_with_the_same_verdict(ddp_run):
    ranks = [json.loads((ddp_run / "nan" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["status"] for r in ranks] == ["degenerate", "degenerate"]
    assert ranks[0]["diagnosis"] == ranks[1]["diagnosis"]
    assert ranks[0]["diagnosis"].startswith("training loss is nan at step 2 on rank 1 of 2")
    assert [r["steps"] for r in ranks] == [1, 1], "both stop before the NaN step's update"
    assert ranks[0]["sum"] == ranks[1]["sum"] and ranks[0]["sq"] == ranks[1]["sq"]
    diag = json.loads((ddp_run / "nan" / "nonfinite_loss.json").read_text())
    assert diag["rank"] == 1 and diag["step"] == 2 and len(diag["batch_texts"]["sentence1"]) == 4
    end = [e for e in map(json.loads, (ddp_run / "nan" / "train_log.jsonl").read_text().splitlines())
           if e["type"] == "end"]
    assert len(end) == 1 and end[0]["status"] == "degenerate"
