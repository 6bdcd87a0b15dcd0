"""SciFact nDCG@10 of the full model: sentence-transformers 6.2 end to end vs the workbench grid.

    python bench/scifact_vs_st.py CUTS_CSV [--model minilm-l6] [--threads 2] [--max-corpus N]

Encodes queries and corpus with ``SentenceTransformer`` (fp32, batch 32) and scores them with
its ``InformationRetrievalEvaluator``; prints that nDCG@10 (and MRR@10, Recall@100, MAP@100)
beside the workbench's fp32 (L, full dim) row of ``CUTS_CSV`` (``workbench grid --task scifact``),
plus the seconds of the reference's encode, to compare with the grid's total time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

from workbench.data.retrieval import load_retrieval
from workbench.models.specs import resolve_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cuts", help="cuts.csv of `workbench grid MODEL --task scifact`")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-corpus", type=int, help="the same corpus cut as the grid's --max-corpus")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_retrieval("scifact", max_corpus=args.max_corpus)
    model = SentenceTransformer(resolve_model(args.model), device="cpu")
    ev = InformationRetrievalEvaluator(data.queries, data.corpus, data.relevant, name="scifact",
                                       precision_recall_at_k=[1, 3, 5, 10, 100], batch_size=32)
    start = time.perf_counter()
    ref = ev(model)
    seconds = time.perf_counter() - start
    print({k: round(v, 6) for k, v in ref.items() if k.split("_cosine_")[-1] in
           ("ndcg@10", "mrr@10", "recall@100", "map@100")})
    print(f"sentence-transformers evaluation (encode queries + corpus, fp32, batch 32): {seconds:.1f} s")
    while not Path(args.cuts).is_file():  # the grid may still be running
        time.sleep(10)
    cuts = pd.read_csv(args.cuts)
    full = cuts[(cuts.task == "scifact") & (cuts.precision == "fp32") & (cuts.rescore == 0)
                & (cuts.layer == cuts.layer.max()) & (cuts.dim == cuts.dim.max())].iloc[0]
    for ours, theirs in (("ndcg@10", "ndcg@10"), ("mrr@10", "mrr@10"), ("recall@100", "recall@100"),
                         ("map@100", "map@100")):
        value = ref[f"scifact_cosine_{theirs}"]
        print(f"{ours:>10}: workbench {full[ours]:.6f}  sentence-transformers {value:.6f}  "
              f"diff {abs(full[ours] - value):.2e}")


if __name__ == "__main__":
    main()
