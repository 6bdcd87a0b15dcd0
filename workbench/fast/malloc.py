"""glibc malloc that keeps freed memory for reuse: no page faults for the next step's tensors.

A training step on the CPU allocates and frees hundreds of MB of activations and gradients (the
fp32 casts of every weight's gradient included), and torch's CPU allocator hands each tensor to
``malloc``. With glibc's defaults, memory freed at the top of the heap beyond a threshold that
adapts up to 64 MB goes back to the OS, blocks past an adaptive size are ``mmap``-ed afresh, and
the next step faults all of it in again page by page, zeroing every page. One all-MiniLM-L6-v2
2D Matryoshka step of 16 pairs (bf16, one thread) took 10,700 minor faults and 14 ms of system
time: 134 ms of CPU against 112 ms with the settings below (172 faults, 1.2 ms), -17%
(docs/results.md, issue 17).

Two ``mallopt`` settings: keep up to 1 GiB of freed memory (``M_TRIM_THRESHOLD``) and serve
blocks up to 32 MiB from the heap (``M_MMAP_THRESHOLD``, the adaptive default's own ceiling).
The trainer applies them in its process (:func:`keep_freed_memory`); ``workbench run`` also
hands them to its notebook kernel as the environment glibc reads at start
(:mod:`workbench.runs.kernel_env`). A value the user exported (``MALLOC_TRIM_THRESHOLD_``,
``MALLOC_MMAP_THRESHOLD_``) wins and is left alone; other C libraries and allocators are left
alone too. The process keeps its peak heap instead of returning it between steps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

MALLOC = {"MALLOC_TRIM_THRESHOLD_": str(1 << 30), "MALLOC_MMAP_THRESHOLD_": str(32 << 20)}
_MALLOPT = {"MALLOC_TRIM_THRESHOLD_": -1, "MALLOC_MMAP_THRESHOLD_": -3}  # glibc's M_* numbers
_applied: dict[str, int] | None = None


def _glibc() -> ctypes.CDLL | None:
    """This process's C library when it is glibc (it has ``gnu_get_libc_version``), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 (an AttributeError elsewhere: musl, macOS)
        return libc
    except (OSError, AttributeError):
        return None


def keep_freed_memory() -> dict[str, int]:
    """Apply :data:`MALLOC` with ``mallopt`` in this process, once; each setting the user exported
    is skipped. Returns the settings applied (empty where none were, or not on glibc)."""
    global _applied
    if _applied is None:
        libc = _glibc()
        todo = {k: int(v) for k, v in MALLOC.items() if k not in os.environ}
        _applied = ({k: v for k, v in todo.items() if libc.mallopt(_MALLOPT[k], v) == 1}
                    if libc is not None else {})
    return dict(_applied)
