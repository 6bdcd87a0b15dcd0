"""Hard-negative mining on SciFact train: workbench.data.mining against sentence-transformers 6.2.

Selection (same embeddings): both sides get the same all-MiniLM-L6-v2 embeddings of the SciFact
corpus and train queries (sentence-transformers through a stand-in model serving them), then
mine with the same settings; the script prints best-of-``--repeats`` seconds per side, the
ratio, and whether the datasets are equal. ``--end-to-end`` also times both including their own
encoding (ours: ``BiEncoder`` at (6, 384); theirs: ``SentenceTransformer``) on the first
``--max-corpus`` documents.

    python bench/mining_vs_st.py [--threads 2] [--repeats 3] [--embeddings minilm|random]
        [--max-seq-length 256] [--selection-corpus N] [--end-to-end] [--max-corpus 1000]
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

import torch
from timing import Clock

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WORKBENCH_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

SETTINGS = [
    {"num_negatives": 4, "range_max": 50, "relative_margin": 0.05, "output_format": "labeled-pair"},
    {"num_negatives": 4, "range_max": 50, "relative_margin": 0.05, "output_format": "triplet"},
    {"num_negatives": 5, "range_min": 5, "range_max": 100, "absolute_margin": 0.02,
     "sampling": "random", "output_format": "n-tuple"},
]


class Served:
    """What sentence-transformers' mine_hard_negatives asks of a model, over fixed vectors."""

    device = torch.device("cpu")

    def __init__(self, texts: list[str], vectors: torch.Tensor) -> None:
        self.row = {t: i for i, t in enumerate(texts)}
        self.vectors = vectors.numpy()

    def encode_document(self, texts, **_):
        return self.vectors[[self.row[t] for t in texts]]

    encode_query = encode_document

    def similarity(self, a, b):
        from sentence_transformers.util import cos_sim
        return cos_sim(a, b)

    def similarity_pairwise(self, a, b):
        from sentence_transformers.util import pairwise_cos_sim
        return pairwise_cos_sim(a, b)

    def encode(self, texts, **_) -> torch.Tensor:
        return torch.from_numpy(self.encode_document(texts))


def load_pairs(max_corpus: int | None = None) -> tuple[list[str], list[str], list[str]]:
    from workbench.data.mining import qrels_pairs
    from workbench.data.retrieval import load_retrieval

    data = load_retrieval("scifact", "train", max_corpus=max_corpus)
    queries, positives = qrels_pairs(data.queries, data.corpus, data.relevant)
    return queries, positives, list(data.corpus.values())


def embed(texts: list[str], how: str, max_seq_length: int,
          pairs: list[tuple[str, str]]) -> torch.Tensor:
    """MiniLM (6, 384) embeddings (bf16 encode, ``max_seq_length`` tokens) or random unit
    vectors of the same shape with each positive pulled towards its query (``--embeddings
    random``: selection speed on the real shapes without the encode)."""
    from workbench.models.bi_encoder import BiEncoder

    if how == "random":
        gen = torch.Generator().manual_seed(0)
        vectors = torch.randn(len(texts), 384, generator=gen)
        row = {t: i for i, t in enumerate(texts)}
        for query, positive in pairs:
            vectors[row[positive]] = vectors[row[query]] + 0.9 * vectors[row[positive]]
        return torch.nn.functional.normalize(vectors, dim=-1)
    encoder = BiEncoder.from_pretrained("minilm-l6", max_seq_length=max_seq_length)
    return encoder.encode(texts, batch_size=32, precision="bf16", show_progress=False)


def selection(repeats: int, how: str, max_corpus: int | None, max_seq_length: int) -> None:
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives as st_mine

    from workbench.data.mining import mine_hard_negatives

    queries, positives, corpus = load_pairs(max_corpus)
    texts = list(dict.fromkeys([*queries, *corpus]))
    with Clock() as clock:
        vectors = embed(texts, how, max_seq_length, list(zip(queries, positives, strict=True)))
    print(f"{len(set(queries))} queries, {len(queries)} pairs, {len(corpus)} documents; "
          f"embeddings: {how} ({clock})")
    model, pairs = Served(texts, vectors), Dataset.from_dict({"q": queries, "p": positives})
    for setting in SETTINGS:
        ours_args = dict(setting)
        theirs_args = {("sampling_strategy" if k == "sampling" else k): v for k, v in setting.items()}
        best = {k: float("inf") for k in ("ours", "theirs", "ours_cpu", "theirs_cpu")}
        for _ in range(repeats):
            random.seed(0)
            with Clock() as ours_clock:
                ours, _ = mine_hard_negatives(queries, positives, model, corpus=corpus,
                                              columns=("q", "p"), show_progress=False, **ours_args)
            random.seed(0)
            with Clock() as theirs_clock:
                theirs = st_mine(pairs, model, corpus=corpus, verbose=False, **theirs_args)
            for side, clock in (("ours", ours_clock), ("theirs", theirs_clock)):
                best[side] = min(best[side], clock.wall)
                best[f"{side}_cpu"] = min(best[f"{side}_cpu"], clock.cpu)
        same = ours.to_dict() == theirs.to_dict()
        print(f"{setting}: wall ours {best['ours']:.3f} s, sentence-transformers "
              f"{best['theirs']:.3f} s, ratio {best['theirs'] / best['ours']:.2f}x; CPU ours "
              f"{best['ours_cpu']:.3f} s, theirs {best['theirs_cpu']:.3f} s, ratio "
              f"{best['theirs_cpu'] / best['ours_cpu']:.2f}x; {len(ours)} rows; equal: {same}")


def end_to_end(max_corpus: int) -> None:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives as st_mine

    from workbench.data.mining import mine_hard_negatives
    from workbench.models.bi_encoder import BiEncoder
    from workbench.models.specs import resolve_model

    queries, positives, corpus = load_pairs(max_corpus)
    folder = resolve_model("minilm-l6")
    setting = {"num_negatives": 4, "range_max": 50, "relative_margin": 0.05,
               "output_format": "labeled-pair"}
    encoder, st_model = BiEncoder.from_pretrained(folder), SentenceTransformer(folder, device="cpu")
    with Clock() as ours_clock:
        ours, stats = mine_hard_negatives(queries, positives, encoder, corpus=corpus,
                                          batch_size=32, show_progress=False, **setting)
    with Clock() as theirs_clock:
        theirs = st_mine(Dataset.from_dict({"anchor": queries, "positive": positives}), st_model,
                         corpus=corpus, batch_size=32, verbose=False, **setting)
    print(f"end to end, {len(corpus)} documents (fp32 encode on both sides): ours {ours_clock}, "
          f"sentence-transformers {theirs_clock}, ratio {theirs_clock.wall / ours_clock.wall:.2f}x; "
          f"rows {len(ours)} vs {len(theirs)}; {stats}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--embeddings", choices=("minilm", "random"), default="minilm")
    parser.add_argument("--max-seq-length", type=int, default=256, help="of the MiniLM encode")
    parser.add_argument("--selection-corpus", type=int, default=None,
                        help="documents of the selection part (default: all 5,183)")
    parser.add_argument("--end-to-end", action="store_true")
    parser.add_argument("--max-corpus", type=int, default=1000, help="documents of --end-to-end")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    selection(args.repeats, args.embeddings, args.selection_corpus, args.max_seq_length)
    if args.end_to_end:
        end_to_end(args.max_corpus)


if __name__ == "__main__":
    main()
