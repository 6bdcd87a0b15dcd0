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


# TEMPORARY double until workbench/samplers.py lands (removed once it exists).
def _install_sampler_double() -> None:
    import sys
    import types

    import torch

    try:
        import workbench.samplers  # noqa: F401
        return
    except ImportError:
        pass

    class _Plain:
        def __init__(self, ds, batch_size, drop_last=False, seed=0):
            self.n, self.bs, self.seed, self.epoch, self.drop = len(ds), batch_size, seed, 0, drop_last

        def set_epoch(self, e):
            self.epoch = e

        def __iter__(self):
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            p = torch.randperm(self.n, generator=g).tolist()
            for i in range(0, self.n, self.bs):
                if len(p[i:i + self.bs]) == self.bs or not self.drop:
                    yield p[i:i + self.bs]

    mod = types.ModuleType("workbench.samplers")
    mod.SAMPLERS = {"batch_sampler": _Plain, "no_duplicates": _Plain}
    sys.modules["workbench.samplers"] = mod


_install_sampler_double()
