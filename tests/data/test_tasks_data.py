"""Evaluation-task loaders: names, suites, paths in both layouts, clear errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from workbench.data.datasets import DataNotFoundError, DataValidationError
from workbench.data.retrieval import load_retrieval
from workbench.data.tasks import SICKR_OFFLINE_SPLIT, load_task, load_tasks


def _beir_jsonl(folder):
    folder.mkdir()
    (folder / "qrels").mkdir()
    docs = [{"_id": "d1", "title": "Cats", "text": "Cats purr."}, {"_id": "d2", "title": "", "text": " Dogs bark. "},
            {"_id": "d3", "title": "Fish", "text": "Fish swim."}]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs))
    queries = [{"_id": "q1", "text": "what purrs"}, {"_id": "q2", "text": "what barks"},
               {"_id": "q3", "text": "unjudged"}]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq2\td3\t0\n")
    return folder


def test_beir_folder_in_jsonl_and_tsv(tmp_path):
    task = load_task(_beir_jsonl(tmp_path / "mine"))
    data = task.retrieval
    assert task.kind == "retrieval" and task.name == "mine"
    assert data.corpus == {"d1": "Cats Cats purr.", "d2": "Dogs bark.", "d3": "Fish Fish swim."}
    assert list(data.queries) == ["q1", "q2"]  # unjudged query dropped
    assert data.relevant == {"q1": {"d1"}, "q2": {"d2"}}  # score 0 is not relevant


def test_shared_scifact_and_subset(shared_data):
    data = load_retrieval("scifact")
    assert (len(data.queries), len(data.corpus)) == (300, 5183)
    assert sum(map(len, data.relevant.values())) == 339
    small = data.subset(max_queries=10, max_corpus=50)
    assert len(small.queries) == 10 and len(small.corpus) == 50
    assert set().union(*small.relevant.values()) <= set(small.corpus)


def test_qrels_naming_unknown_document_is_refused(tmp_path):
    folder = _beir_jsonl(tmp_path / "bad")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tnope\t1\n")
    with pytest.raises(DataValidationError, match="row 0: corpus-id 'nope'"):
        load_task(folder)


def test_missing_data_says_what_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match=r"sts13/test.parquet.*mteb/sts13-sts"):
        load_task("sts13")
    with pytest.raises(DataNotFoundError, match=r"scifact.*mteb/scifact"):
        load_task("scifact")
    with pytest.raises(DataNotFoundError, match="unknown task 'nonsense'"):
        load_task("nonsense")


def test_sts_suite_offline_keeps_what_exists(shared_data):
    with pytest.warns(UserWarning, match="skipping sts14, sts15, sts16"):
        tasks = load_tasks(["sts-suite", "stsb"], max_pairs=5)
    assert [t.name for t in tasks] == ["stsb", "sickr", "sts12", "sts13"]
    assert all(t.suite == "sts-suite" and t.kind == "sts" and len(t.pairs[0]) == 5 for t in tasks)
    assert tasks[1].source.endswith(f"sickr/{SICKR_OFFLINE_SPLIT}.parquet")
    assert tasks[2].pairs[2].min() >= 0 and tasks[2].pairs[2].max() <= 1


def test_pair_file_and_pair_folder(tmp_path):
    frame = pd.DataFrame({"sentence1": ["a b", "c d"], "sentence2": ["a c", "d e"], "label": [1, 0]})
    frame.to_parquet(tmp_path / "test.parquet")
    by_file = load_task(tmp_path / "test.parquet")
    by_folder = load_task(tmp_path)
    assert by_file.kind == by_folder.kind == "pair-class"
    assert by_folder.pairs[0] == ["a b", "c d"]
