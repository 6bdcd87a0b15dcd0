"""Tiny data for the trainer tests: STSB pairs and all-NLI triplets (a few dozen rows)."""

from __future__ import annotations

import pandas as pd
import pytest
from datasets import Dataset


@pytest.fixture(scope="session")
def stsb_small(shared_data) -> Dataset:
    """32 STSB train pairs with scores in [0, 1]."""
    return Dataset.from_pandas(pd.read_parquet(shared_data / "stsb" / "train.parquet").head(32),
                               preserve_index=False)


@pytest.fixture(scope="session")
def nli_small(shared_data) -> Dataset:
    """32 all-NLI (anchor, positive, negative) triplets."""
    return Dataset.from_pandas(pd.read_parquet(shared_data / "allnli" / "dev.parquet").head(32),
                               preserve_index=False)

