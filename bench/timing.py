"""Timing shared by the benchmark scripts: wall and CPU seconds of a block (CUDA-aware), and
interleaved rounds of several contenders with their medians."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

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


CLOCK = {"which": "wall"}
"""Which seconds :func:`interleaved` reports: "wall", or "cpu" (process CPU time: with one
thread a side on cores shared with other jobs, wall time mostly measures the neighbours)."""


def seconds(clock: Clock) -> float:
    """The clock's wall or CPU seconds, as ``CLOCK`` says."""
    return clock.cpu if CLOCK["which"] == "cpu" else clock.wall


def interleaved(calls: dict[str, Callable[[], object]], repeats: int, device: str = "cpu",
                verbose: bool = True) -> dict[str, list[float]]:
    """Run every call once per round, the starting call rotating each round (so drifting load
    from other jobs hits all alike); seconds (``CLOCK``) per call and round."""
    names = list(calls)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            with Clock(device) as clock:
                calls[name]()
            times[name].append(seconds(clock))
        if verbose:
            print(f"round {r + 1}/{repeats}: "
                  + ", ".join(f"{n} {t[-1]:.2f}s" for n, t in times.items()), flush=True)
    return times


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(t) for name, t in times.items()}
