"""Datasets: schemas from the shared Parquet files, validation naming the row, the missing-data error."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from workbench.data import datasets as data

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "fixtures" / "tiny_stsb.csv"


@pytest.mark.parametrize(("name", "split", "rows", "columns"), [
    ("stsb", "test", 1379, ["sentence1", "sentence2", "score"]),
    ("snli", "dev", 9842, ["premise", "hypothesis", "label"]),
    ("mnli", "validation", 9815, ["premise", "hypothesis", "label"]),
    ("allnli", "validation", 6584, ["anchor", "positive", "negative"]),
])
def test_named_splits_load_with_hub_schemas(shared_data, name, split, rows, columns):
    ds = data.load_dataset(name, split)
    assert len(ds) == rows and ds.column_names == columns


def test_known_first_rows_and_label_names(shared_data):
    assert data.load_dataset("stsb", "test")[0] == {
        "sentence1": "A girl is styling her hair.", "sentence2": "A girl is brushing her hair.",
        "score": 0.5}
    snli = data.load_dataset("snli", "validation")
    assert snli.features["label"].names == ["entailment", "neutral", "contradiction"]
    assert snli[0]["label"] == 1


def test_split_aliases():
    assert data.canonical_split("allnli", "validation") == "dev"
    assert data.canonical_split("snli", "dev") == "validation"
    assert data.canonical_split("mnli", "dev") == "validation_matched"
    with pytest.raises(ValueError, match="no split 'nope'"):
        data.canonical_split("stsb", "nope")


def test_max_samples_and_explicit_data_dir(shared_data):
    ds = data.load_dataset("stsb", "train", data_dir=shared_data, max_samples=7)
    assert len(ds) == 7 and ds[0]["sentence1"] == "A plane is taking off."


def test_allnli_offline_train_is_dev_plus_test(shared_data):
    ds = data.allnli_offline_train()
    assert len(ds) == 13193
    assert ds[6584]["anchor"].startswith("This church choir sings to the masses")


def test_nli_pairs_keep_entailment_and_warn_on_all(shared_data):
    pairs = data.nli_pairs("validation")
    assert pairs.column_names == ["sentence1", "sentence2", "label"]
    assert set(pairs["label"]) == {data.ENTAILMENT} and len(pairs) == 3329
    with pytest.warns(UserWarning, match="keeps 3278 contradiction pairs"):
        everything = data.nli_pairs("validation", keep="all")
    assert len(everything) == 9842


def test_nli_binary_pairs_drop_neutral(shared_data):
    pairs = data.nli_binary_pairs("validation")
    snli = data.load_dataset("snli", "validation")
    labels = snli["label"]
    assert len(pairs) == sum(1 for x in labels if x != data.NEUTRAL)
    assert sum(pairs["label"]) == sum(1 for x in labels if x == data.ENTAILMENT)


def test_file_fixture_and_stats():
    ds = data.load_dataset(str(FIXTURE))
    assert len(ds) == 20
    stats = data.dataset_stats(ds)
    assert stats["samples"] == 20
    s1 = stats["columns"]["sentence1"]
    assert s1["unit"] == "chars" and s1["min"] <= s1["mean"] <= s1["max"]
    assert stats["columns"]["score"]["max"] == 1.0


def test_stats_in_tokens(tiny_encoder):
    ds = data.load_dataset(str(FIXTURE))
    stats = data.dataset_stats(ds, tokenizer=tiny_encoder.tokenizer)
    assert stats["columns"]["sentence1"]["unit"] == "tokens"
    assert stats["columns"]["sentence1"]["min"] > 2


def _stsb(**overrides) -> datasets.Dataset:
    rows = {"sentence1": ["a", "b", "c"], "sentence2": ["x", "y", "z"], "score": [0.1, 0.5, 1.0]}
    rows.update(overrides)
    return datasets.Dataset.from_dict(rows)


@pytest.mark.parametrize(("rows", "needle"), [
    ({"sentence2": ["x", "   ", "z"]}, "stsb/test: column 'sentence2' row 1: '   '"),
    ({"sentence1": ["a", "b", ""]}, "column 'sentence1' row 2: ''"),
    ({"score": [0.1, float("nan"), 1.0]}, "column 'score' row 1: nan"),
    ({"score": [0.1, 0.5, 4.0]}, "column 'score' row 2: 4.0 is not a finite score in [0.0, 1.0]"),
])
def test_validation_names_dataset_split_column_and_row(rows, needle):
    with pytest.raises(data.DataValidationError) as err:
        data.validate_dataset(_stsb(**rows), "pair-score", "stsb", "test")
    assert needle in str(err.value)


def test_validation_labels_and_missing_columns():
    nli = datasets.Dataset.from_dict({"premise": ["p", "q"], "hypothesis": ["h", "i"],
                                      "label": [0, -1]})
    with pytest.raises(data.DataValidationError, match=r"snli/dev: column 'label' row 1: -1"):
        data.validate_dataset(nli, "pair-class", "snli", "dev")
    with pytest.raises(data.DataValidationError, match=r"missing column\(s\) \['anchor'"):
        data.validate_dataset(nli, "triplet", "allnli", "dev")


def test_validation_runs_on_load(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence1,sentence2,score\nok,fine,0.5\nok,fine,1.5\n")
    with pytest.raises(data.DataValidationError, match="bad.csv: column 'score' row 1: 1.5"):
        data.load_dataset(str(bad))


def test_missing_data_gives_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(data, "_load_hub", _offline_hub)
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_dataset("snli", "train", data_dir=tmp_path)
    message = str(err.value)
    assert str(tmp_path / "snli" / "train.parquet") in message
    assert str(tmp_path / "empty" / "snli" / "train.parquet") in message
    assert "stanfordnlp/snli" in message and "WORKBENCH_DATA" in message
    assert "allnli_offline_train" in message


def test_missing_data_through_the_real_hub_path(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path))
    with pytest.raises(data.DataNotFoundError, match="sentence-transformers/stsb"):
        data.load_dataset("stsb", "test")


def _offline_hub(name: str, split: str):
    raise ConnectionError("offline")
