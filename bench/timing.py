"""Timing shared by the benchmark scripts: wall and CPU seconds of a block, CUDA-aware."""

from __future__ import annotations

import time

import torch


class Clock:
    """Wall and CPU seconds of a block (CPU time is less disturbed by other jobs' load); on CUDA
    it synchronises at both ends and records the peak GPU memory allocated inside the block."""

    def __init__(self, device: str = "cpu") -> None:
        self.cuda = device.startswith("cuda")
        self.peak_mb = float("nan")

    def __enter__(self) -> Clock:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak_mb = torch.cuda.max_memory_allocated() / 2**20
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall:7.1f} s wall {self.cpu:7.1f} s CPU"
