"""Every environment setting the workbench reads, with its one default."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "WORKBENCH_DATA"
"""Folder holding ``<name>/<split>.parquet``; CI points it at ``../shared/data``."""
RUNS_ENV = "WORKBENCH_RUNS"
"""Root of run folders (default ``./runs``)."""
COUNTRY_ENV = "WORKBENCH_COUNTRY"
"""ISO 3166 alpha-3 code for codecarbon's offline tracker (default ``USA``)."""
DEFAULT_COUNTRY = "USA"
CACHE_ENV = "WORKBENCH_CACHE"
"""Folder for assembled models (e.g. ``mpnet-base`` from its split-zip packages); default
``~/.cache/workbench``."""
CUDA_GRAPHS_ENV = "WORKBENCH_CUDA_GRAPHS"
"""``1`` encodes on CUDA through captured graphs (:mod:`workbench.fast.cuda_graphs`); off by
default until its GPU timings are measured."""


def data_dir() -> Path | None:
    """The local data folder from ``WORKBENCH_DATA``, or ``None`` when unset."""
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def runs_dir() -> Path:
    """The runs root from ``WORKBENCH_RUNS`` (default ``./runs``)."""
    return Path(os.environ.get(RUNS_ENV, "runs")).expanduser()


def country_code() -> str:
    """Country for offline emission estimates."""
    return os.environ.get(COUNTRY_ENV, DEFAULT_COUNTRY)


def cache_dir() -> Path:
    """The cache folder from ``WORKBENCH_CACHE`` (default ``~/.cache/workbench``)."""
    return Path(os.environ.get(CACHE_ENV, "~/.cache/workbench")).expanduser()


def cuda_graphs() -> bool:
    """Whether ``WORKBENCH_CUDA_GRAPHS`` turns CUDA graphs on for encoding (``1``, ``true``,
    ``yes``, ``on``; anything else or unset: off)."""
    return os.environ.get(CUDA_GRAPHS_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
