"""``keep_freed_memory``: a step's worth of tensors, freed and allocated again, stops faulting.

Each case runs in a child process (the settings are process-wide and cannot be undone): ten
4 MiB blocks from ``malloc`` (as torch's CPU allocator takes a tensor's memory), written, alive at
once, all freed, ten times over, like a training step's activations. With glibc's defaults the
freed heap top goes back to the OS and is faulted in again every round.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.tiny_training import trained_weights
from workbench.fast.malloc import MALLOC, _glibc
from workbench.training import loop

CHILD = """
import ctypes, json, resource, sys
from workbench.fast.malloc import _glibc, keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else {}
libc = _glibc()
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
size, total = 4 << 20, 0
for round in range(10):
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    alive = [libc.malloc(size) for _ in range(10)]
    for block in alive:
        ctypes.memset(block, 1, size)  # written, as a tensor's data is
    for block in reversed(alive):
        libc.free(block)
    total += (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start) if round >= 2 else 0
print(json.dumps({"applied": applied, "faults": total}))
"""

glibc_only = pytest.mark.skipif(_glibc() is None, reason="mallopt is glibc's")


def _child(mode: str, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in MALLOC}
    out = subprocess.run([sys.executable, "-c", CHILD, mode], env={**clean, **env}, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


@glibc_only
def test_kept_memory_stops_the_faults():
    default, kept = _child("default"), _child("keep")
    assert kept["applied"] == {k: int(v) for k, v in MALLOC.items()}
    pages = 8 * 10 * (4 << 20) // 4096  # 8 rounds of 40 MiB
    assert default["faults"] > pages // 2  # the defaults fault the freed memory in again
    assert kept["faults"] < pages // 20


@glibc_only
def test_exported_values_win():
    child = _child("keep", MALLOC_TRIM_THRESHOLD_="131072")
    assert child["applied"] == {"MALLOC_MMAP_THRESHOLD_": int(MALLOC["MALLOC_MMAP_THRESHOLD_"])}


def test_a_cpu_training_run_applies_the_settings(tiny_bert_dir, shared_data, tmp_path,
                                                 monkeypatch):
    calls = []
    monkeypatch.setattr(loop, "keep_freed_memory", lambda: calls.append(1) or {})
    trained_weights(tiny_bert_dir, shared_data, tmp_path, rows=8)
    assert calls == [1]
