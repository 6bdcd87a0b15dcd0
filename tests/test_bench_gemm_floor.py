"""bench/gemm_floor.py: the GEMMs of a forward recorded, counted and replayed alone."""

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import gemm_floor  # noqa: E402


def test_records_counts_and_replays_every_linear_layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4, bias=False))
    x = torch.randn(5, 8)
    calls = gemm_floor.record(lambda: model(x))
    assert [c[2] for c in calls] == [(5, 8), (5, 16)]
    assert gemm_floor.flops(calls) == 2 * 5 * 8 * 16 + 2 * 5 * 16 * 4
    seen = gemm_floor.record(gemm_floor.replay(calls))  # the replay runs the same GEMMs again
    assert [c[:3] for c in seen] == [c[:3] for c in calls]
