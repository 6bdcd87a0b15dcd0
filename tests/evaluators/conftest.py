"""Fixtures for the evaluator tests (helpers live in eval_helpers.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from eval_helpers import make_pairs


@pytest.fixture(params=[(False, np.float32), (True, np.float32), (False, np.float64)],
                ids=["smooth", "coarse", "fp64"])
def pairs(request) -> SimpleNamespace:
    """300 hand-made pairs: smooth fp32, coarse fp32 (many score ties) or smooth fp64."""
    coarse, dtype = request.param
    return make_pairs(coarse=coarse, dtype=dtype)


@pytest.fixture()
def stsb_small(shared_data):
    """The first 64 STS-B validation pairs as a DataFrame (sentence1, sentence2, score)."""
    import pandas as pd

    return pd.read_parquet(shared_data / "stsb" / "validation.parquet").head(64)
