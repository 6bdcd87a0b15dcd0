"""The environment a run's kernel starts with: glibc malloc that keeps freed memory for reuse.

The settings and why (-17% CPU on a MiniLM training step): :mod:`workbench.fast.malloc`. The
trainer applies them in its own process with ``mallopt``; given to the kernel process that
``workbench run`` launches (the process running the notebook) as the environment glibc reads when
a process starts, they also cover what the notebook allocates before training. Values the user
already exported win. Other allocators ignore them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from workbench.fast.malloc import MALLOC


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
