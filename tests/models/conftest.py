"""Tiny random encoders of every architecture (built once per session, offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.models.tiny import available_architectures, tiny_model

ARCHS = available_architectures()


@pytest.fixture(scope="session")
def arch_dirs(tmp_path_factory) -> dict[str, Path]:
    """``{arch: folder}``: a plain Hugging Face folder (3 layers x 32 dims) per architecture."""
    root = tmp_path_factory.mktemp("archs")
    return {arch: tiny_model(root / arch, arch, seed=i) for i, arch in enumerate(ARCHS)}
