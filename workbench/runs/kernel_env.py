"""The environment a run's kernel starts with: glibc malloc that keeps freed memory for reuse.

A training step on the CPU allocates and frees hundreds of MB of activations and gradients
(fp32 casts of every weight's gradient included). With glibc's defaults, memory freed at the top
of the heap beyond a threshold that adapts to at most 64 MB goes back to the OS, and the next
step faults it in again page by page: in a 100-step all-MiniLM-L6-v2 2D Matryoshka run on one
thread, 0.55-0.84 million minor page faults and 1.1-1.7 s of system time out of 15.2-15.7 s of
CPU time. Keeping up to 1 GiB of freed memory (``M_TRIM_THRESHOLD``) and serving blocks up to
32 MiB from the heap (``M_MMAP_THRESHOLD``, the default's own ceiling) cut that to 0.28 million
faults and 0.62 s: 14.5 s in all, about 7% less (docs/results.md, issue 17).

glibc reads these settings once, when a process starts, so they go to the kernel process that
``workbench run`` launches (the process running the notebook), not to the caller; values the
user already exported win. Other allocators ignore them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

MALLOC = {"MALLOC_TRIM_THRESHOLD_": str(1 << 30), "MALLOC_MMAP_THRESHOLD_": str(32 << 20)}


@contextmanager
def kernel_environment() -> Iterator[dict[str, str]]:
    """Inside, ``os.environ`` (which a new kernel inherits) holds :data:`MALLOC` where the user
    set nothing; afterwards it is as before. Yields the values a kernel started inside gets."""
    added = {k: v for k, v in MALLOC.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield {k: os.environ[k] for k in MALLOC}
    finally:
        for key in added:
            os.environ.pop(key, None)
