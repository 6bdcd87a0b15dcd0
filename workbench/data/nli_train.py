"""The NLI training rows of the AdaptiveLayer experiment, with the offline fallback.

``train_data="allnli"``: (anchor, positive, negative) triplets (seed card 001); ``"snli"``:
(premise, hypothesis) pairs (seed card 000). Their train splits exist only on the Hub; when
neither a local copy nor the Hub can serve one, the rows fall back to the offline data (allnli
dev + test, 13,193 triplets; SNLI validation) with a warning saying so, so that the seed
presets also run offline.
"""

from __future__ import annotations

import warnings

import datasets

from workbench.data.datasets import DataNotFoundError, allnli_offline_train, load_dataset, nli_pairs

OFFLINE = "offline"
OFFLINE_ROWS = {"allnli": "allnli dev + test (13,193 triplets)",
                "snli": "SNLI validation pairs"}


def _rows(train_data: str, split: str, keep: str, max_samples: int | None) -> datasets.Dataset:
    if train_data == "snli":
        return nli_pairs("validation" if split == OFFLINE else split, keep=keep,
                         max_samples=max_samples).remove_columns("label")
    if split == OFFLINE:
        return allnli_offline_train(max_samples=max_samples)
    return load_dataset("allnli", split, max_samples=max_samples)


def nli_training_rows(train_data: str, split: str = OFFLINE, keep: str = "entailment",
                      max_samples: int | None = None) -> tuple[datasets.Dataset, str]:
    """``(rows, split used)``; a split that cannot be found falls back to ``"offline"``, warning."""
    if train_data not in OFFLINE_ROWS:
        raise ValueError(f"train_data must be one of {sorted(OFFLINE_ROWS)}, not '{train_data}'")
    if split != OFFLINE:
        try:
            return _rows(train_data, split, keep, max_samples), split
        except DataNotFoundError as err:
            reason = str(err).splitlines()[0]
            warnings.warn(f"{train_data} split '{split}' is not available offline and the Hub "
                          f"could not serve it ({reason}); training on the offline data instead: "
                          f"{OFFLINE_ROWS[train_data]}", stacklevel=2)
    return _rows(train_data, OFFLINE, keep, max_samples), OFFLINE
