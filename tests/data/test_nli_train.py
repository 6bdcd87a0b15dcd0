"""NLI training rows: Hub-only train splits fall back to the offline rows, saying so."""

from __future__ import annotations

import pytest

from workbench.data.nli_train import nli_training_rows


@pytest.mark.parametrize(("train_data", "columns"), [("allnli", ["anchor", "positive", "negative"]),
                                                     ("snli", ["sentence1", "sentence2"])])
def test_hub_only_split_falls_back_with_a_warning(shared_data, train_data, columns):
    with pytest.warns(UserWarning, match="not available offline.*training on the offline data"):
        rows, used = nli_training_rows(train_data, "train", max_samples=8)
    assert used == "offline" and rows.column_names == columns and len(rows) == 8


def test_offline_split_needs_no_warning(shared_data, recwarn):
    rows, used = nli_training_rows("allnli", "offline", max_samples=4)
    assert used == "offline" and len(rows) == 4
    assert not [w for w in recwarn if "offline" in str(w.message)]


def test_unknown_training_data_is_named():
    with pytest.raises(ValueError, match="mnli"):
        nli_training_rows("mnli", "train")
