"""Retrieval data (queries, corpus, qrels) in the BEIR / MTEB layout, from a folder or the Hub.

Local layouts (a folder given by path, or ``<data_dir or WORKBENCH_DATA>/<name>/``):
``corpus.parquet|jsonl`` (``_id``, optional ``title``, ``text``), ``queries.parquet|jsonl``
(``_id``, ``text``) and ``qrels/<split>.parquet|tsv`` (``query-id``, ``corpus-id``, ``score``).
Hub layouts: MTEB (``mteb/scifact``: configs ``corpus``/``queries``/``default``) and NanoBEIR
(``zeta-alpha-ai/NanoSciFact``: configs ``corpus``/``queries``/``qrels``, split ``train``).
A document's text is ``(title + " " + text).strip()`` as in BEIR and MTEB. A judgement with
score > 0 marks a relevant document (binary relevance, as sentence-transformers'
``InformationRetrievalEvaluator``); only judged queries are kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from workbench import settings
from workbench.data.datasets import DataNotFoundError, DataValidationError

NANOBEIR = ("ClimateFEVER", "DBPedia", "FEVER", "FiQA2018", "HotpotQA", "MSMARCO", "NFCorpus", "NQ",
            "QuoraRetrieval", "SCIDOCS", "ArguAna", "SciFact", "Touche2020")
"""NanoBEIR sets as sentence-transformers' ``NanoBEIREvaluator`` names them (``Nano<name>``)."""
HUB_IDS = {"scifact": "mteb/scifact",
           **{f"nano{n.lower()}": f"zeta-alpha-ai/Nano{n}" for n in NANOBEIR}}
"""Task name (lower case) -> Hub id of its retrieval data."""


@dataclass(frozen=True)
class RetrievalData:
    """One retrieval split.

    Args:
        name, split: where it came from (for keys and error messages).
        queries: query id -> text, judged queries only, in file order.
        corpus: document id -> text, in file order.
        relevant: query id -> ids of its relevant documents (qrels score > 0).
    """

    name: str
    split: str
    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]

    def subset(self, max_queries: int | None = None, max_corpus: int | None = None) -> RetrievalData:
        """The first ``max_queries`` queries; the corpus cut to ``max_corpus`` documents that
        keep every relevant document of those queries first (so each query stays answerable)."""
        qids = list(self.queries)[:max_queries] if max_queries is not None else list(self.queries)
        relevant = {q: self.relevant[q] for q in qids}
        docs = list(self.corpus)
        if max_corpus is not None and max_corpus < len(docs):
            needed = set().union(*relevant.values()) if relevant else set()
            rest = [d for d in docs if d not in needed][:max(0, max_corpus - len(needed))]
            keep = needed | set(rest)
            docs = [d for d in docs if d in keep]
        return RetrievalData(self.name, self.split, {q: self.queries[q] for q in qids},
                             {d: self.corpus[d] for d in docs}, relevant)

    def __repr__(self) -> str:
        return (f"RetrievalData({self.name}/{self.split}: {len(self.queries)} queries, "
                f"{len(self.corpus)} documents, {sum(map(len, self.relevant.values()))} judgements)")


def _read_table(base: Path) -> pa.Table | None:
    """``base.parquet``, ``base.jsonl`` or ``base.tsv``, whichever exists; None if none."""
    for suffix in (".parquet", ".jsonl", ".tsv"):
        file = base.with_name(base.name + suffix)
        if not file.is_file():
            continue
        if suffix == ".parquet":
            return pq.read_table(file)
        if suffix == ".tsv":
            return pa_csv.read_csv(file, parse_options=pa_csv.ParseOptions(delimiter="\t"),
                                   convert_options=pa_csv.ConvertOptions(
                                       column_types={"query-id": pa.string(), "corpus-id": pa.string()}))
        with file.open(encoding="utf-8") as handle:
            return pa.Table.from_pylist([json.loads(line) for line in handle if line.strip()])
    return None


def is_retrieval_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds a corpus and queries in the BEIR/MTEB layout."""
    folder = Path(folder)
    return any((folder / f"corpus{s}").is_file() for s in (".parquet", ".jsonl")) and \
        any((folder / f"queries{s}").is_file() for s in (".parquet", ".jsonl"))


def from_tables(name: str, split: str, corpus: pa.Table, queries: pa.Table, qrels: pa.Table
                ) -> RetrievalData:
    """Build :class:`RetrievalData` from the three BEIR tables, checking their columns."""
    for table, what, needed in ((corpus, "corpus", ("_id", "text")), (queries, "queries", ("_id", "text")),
                                (qrels, f"qrels/{split}", ("query-id", "corpus-id"))):
        missing = [c for c in needed if c not in table.column_names]
        if missing:
            raise DataValidationError(f"{name}/{what}: missing column(s) {missing}; columns "
                                      f"present: {table.column_names}")
    titles = (corpus.column("title").to_pylist() if "title" in corpus.column_names
              else [None] * corpus.num_rows)
    docs = {str(i): (f"{t} {x}".strip() if t else x.strip()) for i, t, x in
            zip(corpus.column("_id").to_pylist(), titles, corpus.column("text").to_pylist(), strict=True)}
    scores = (qrels.column("score").to_pylist() if "score" in qrels.column_names
              else [1] * qrels.num_rows)
    relevant: dict[str, set[str]] = {}
    for row, (q, d, s) in enumerate(zip(qrels.column("query-id").to_pylist(),
                                        qrels.column("corpus-id").to_pylist(), scores, strict=True)):
        if str(d) not in docs:
            raise DataValidationError(f"{name}/qrels/{split}: row {row}: corpus-id {d!r} is not in "
                                      "the corpus")
        if s is not None and s > 0:
            relevant.setdefault(str(q), set()).add(str(d))
    texts = dict(zip(map(str, queries.column("_id").to_pylist()), queries.column("text").to_pylist(),
                     strict=True))
    missing = sorted(set(relevant) - set(texts))
    if missing:
        raise DataValidationError(f"{name}/qrels/{split}: query-id {missing[0]!r} (and "
                                  f"{len(missing) - 1} more) not in queries")
    judged = {q: t for q, t in texts.items() if q in relevant}
    if not judged:
        raise DataValidationError(f"{name}/qrels/{split}: no query has a relevant document")
    return RetrievalData(name, split, judged, docs, {q: relevant[q] for q in judged})


def load_folder(folder: str | Path, split: str = "test", name: str | None = None) -> RetrievalData:
    """A local BEIR/MTEB folder: corpus, queries and ``qrels/<split>`` (parquet, jsonl or tsv)."""
    folder = Path(folder).expanduser()
    name = name or folder.name
    tables = [_read_table(folder / "corpus"), _read_table(folder / "queries"),
              _read_table(folder / "qrels" / split)]
    if any(t is None for t in tables):
        looked = [str(folder / "corpus.{parquet,jsonl}"), str(folder / "queries.{parquet,jsonl}"),
                  str(folder / "qrels" / f"{split}.{{parquet,tsv}}")]
        raise DataNotFoundError(f"retrieval data '{name}' split '{split}' incomplete in {folder}: "
                                f"need {', '.join(looked)}")
    return from_tables(name, split, *tables)


def _load_hub(hub_id: str, split: str) -> RetrievalData:
    """The real Hub path (MTEB or NanoBEIR layout) through ``datasets.load_dataset``."""
    import datasets

    nano = hub_id.split("/")[-1].startswith("Nano")
    names = ("corpus", "queries", "qrels") if nano else ("corpus", "queries", "default")
    splits = ("train", "train", "train") if nano else ("corpus", "queries", split)
    tables = [datasets.load_dataset(hub_id, n, split=s).data.table for n, s in zip(names, splits,
                                                                                     strict=True)]
    return from_tables(hub_id.split("/")[-1], "train" if nano else split, *tables)


def load_retrieval(name: str | Path, split: str = "test", data_dir: str | Path | None = None,
                   max_queries: int | None = None, max_corpus: int | None = None) -> RetrievalData:
    """Retrieval data by folder path, local name (``scifact``), NanoBEIR name or Hub id.

    Resolution: an existing folder path; ``<data_dir or WORKBENCH_DATA>/<name>/``; the Hub id
    (``HUB_IDS[name]`` or ``name`` itself when it contains a "/"). One
    :class:`DataNotFoundError` lists everything looked for when none works.
    """
    path = Path(str(name)).expanduser()
    if path.is_dir():
        return load_folder(path, split).subset(max_queries, max_corpus)
    key = str(name)
    folders = [Path(d).expanduser() / key for d in (data_dir, settings.data_dir()) if d is not None]
    for folder in folders:
        if is_retrieval_folder(folder):
            return load_folder(folder, split, key).subset(max_queries, max_corpus)
    hub_id = HUB_IDS.get(key.lower(), key if "/" in key else None)
    err: Exception | None = None
    if hub_id is not None:
        try:
            return _load_hub(hub_id, split).subset(max_queries, max_corpus)
        except Exception as exc:  # offline or missing: one clear error below
            err = exc
    looked = [f"{f}/{{corpus,queries}}.parquet + qrels/{split}.parquet" for f in folders] or [
        f"no local folder (neither data_dir nor {settings.DATA_ENV} is set)"]
    hub = (f"the Hub id '{hub_id}' failed ({type(err).__name__}: {str(err)[:160]})" if hub_id
           else "no Hub id is known for it")
    raise DataNotFoundError(
        f"retrieval data '{key}' split '{split}' not found. Looked for: {'; '.join(looked)}; then "
        f"{hub}. Fix: pass a folder in the BEIR/MTEB layout, set {settings.DATA_ENV} to a folder "
        f"holding {key}/, or go online (unset HF_HUB_OFFLINE / HF_DATASETS_OFFLINE).")
