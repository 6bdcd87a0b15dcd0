"""Two CPU processes (gloo) train a few steps and end with identical weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from workbench.models.bi_encoder import BiEncoder

WORKER = Path(__file__).with_name("ddp_worker.py")


def test_two_processes_finish_with_identical_weights(tiny_bert_dir, shared_data, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--standalone", str(WORKER), str(tiny_bert_dir),
           str(shared_data / "stsb" / "train.parquet"), str(tmp_path)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=300)
    finally:  # a hung run must not leave its workers behind
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and [r["steps"] for r in ranks] == [3, 3]
    assert ranks[0]["rows"] == 3 * 4 * 2
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["sum"] == ranks[1]["sum"] and ranks[0]["sq"] == ranks[1]["sq"]
    start = BiEncoder.from_pretrained(tiny_bert_dir)
    initial = torch.cat([p.detach().flatten().double() for p in start.parameters()])
    assert abs(ranks[0]["sq"] - float((initial ** 2).sum())) > 1e-6, "training changed no weight"
