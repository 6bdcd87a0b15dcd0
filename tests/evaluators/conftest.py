"""Fixtures for the evaluator tests (helpers live in eval_helpers.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from eval_helpers import make_pairs


@pytest.fixture(params=[False, True], ids=["smooth", "coarse"])
def pairs(request) -> SimpleNamespace:
    return make_pairs(coarse=request.param)


@pytest.fixture()
def stsb_small(shared_data):
    """The first 64 STS-B validation pairs as a DataFrame (sentence1, sentence2, score)."""
    import pandas as pd

    return pd.read_parquet(shared_data / "stsb" / "validation.parquet").head(64)
