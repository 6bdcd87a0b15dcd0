"""The cuts table: one encode per text set, every cell equal to the one-cell evaluators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.data.retrieval import RetrievalData
from workbench.data.tasks import Task
from workbench.evaluators.retrieval import RetrievalEvaluator
from workbench.evaluators.similarity import EmbeddingSimilarityEvaluator
from workbench.evaluators.task_grid import task_grid

WORDS = ["cat", "dog", "fish", "bird", "tree", "rock", "sand", "wave", "star", "moon", "sun", "rain", "snow", "wind", "leaf"]


def _tasks() -> list[Task]:
    rng = np.random.default_rng(0)
    docs = {f"d{i}": " ".join(rng.choice(WORDS, 6)) for i in range(40)}
    queries = {f"q{i}": " ".join(rng.choice(WORDS, 3)) for i in range(8)}
    relevant = {f"q{i}": {f"d{3 * i}", f"d{3 * i + 1}"} for i in range(8)}
    pairs = ([" ".join(rng.choice(WORDS, 4)) for _ in range(20)],
             [" ".join(rng.choice(WORDS, 4)) for _ in range(20)], rng.random(20))
    return [Task("ret", "retrieval", "mem", retrieval=RetrievalData("ret", "test", queries, docs, relevant)),
            Task("sts-a", "sts", "mem", pairs=pairs, suite="suite"),
            Task("sts-b", "sts", "mem", pairs=(pairs[1], pairs[0], pairs[2][::-1].copy()), suite="suite")]


class _Counting:
    """Wraps an encoder and counts ``encode_layers`` calls."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def encode_layers(self, texts, layers=None, *args, **kwargs):
        self.calls.append((len(texts), tuple(layers or ())))
        return self.model.encode_layers(texts, layers, *args, **kwargs)


def test_cells_come_from_one_encode_per_text_set(tiny_encoder):
    model = _Counting(tiny_encoder)
    frame = task_grid(model, _tasks(), dims=[32, 16], precisions=["fp32", "int8", "binary"],
                      rescore=2, measure_latency=False)
    assert model.calls == [(8, (1, 2, 3)), (40, (1, 2, 3)), (40, (1, 2, 3)), (40, (1, 2, 3))]
    ret = frame[frame.task == "ret"]
    assert len(ret) == 3 * 2 * 5  # fp32, int8, int8 x2, binary, binary x2
    assert set(ret.rescore) == {0, 2} and set(ret[ret.precision == "fp32"].rescore) == {0}
    assert len(frame[frame.task == "sts-a"]) == 3 * 2 * 3
    assert ret.search_ms_per_query.gt(0).all() and ret.search_backend.isin(["numpy", "faiss"]).all()
    sizes = ret.groupby(["precision", "dim"]).index_bytes.first().to_dict()
    assert sizes == {("fp32", 32): 40 * 128, ("fp32", 16): 40 * 64,  # 40 documents
                     ("int8", 32): 40 * 32 + 2 * 32 * 4, ("int8", 16): 40 * 16 + 2 * 16 * 4,
                     ("binary", 32): 40 * 4, ("binary", 16): 40 * 2}


def test_cells_equal_the_one_cell_evaluators(tiny_encoder):
    tasks = _tasks()
    frame = task_grid(tiny_encoder, tasks, dims=[32, 16], layers=[1, 3], measure_latency=False)
    cell = frame[(frame.task == "ret") & (frame.layer == 1) & (frame.dim == 16)].iloc[0]
    expected = RetrievalEvaluator(tasks[0].retrieval)(tiny_encoder, layer=1, dim=16).metrics
    assert cell.score == pytest.approx(expected["cosine_ndcg@10"], abs=1e-12)
    assert cell["map@100"] == pytest.approx(expected["cosine_map@100"], abs=1e-12)
    sts = frame[(frame.task == "sts-a") & (frame.layer == 3) & (frame.dim == 32)].iloc[0]
    ev = EmbeddingSimilarityEvaluator(*tasks[1].pairs, similarity_fns=["cosine"])
    assert sts.score == pytest.approx(ev(tiny_encoder, layer=3, dim=32).primary, abs=1e-6)
    suite = frame[frame.task == "suite"]
    members = frame[frame.suite == "suite"].groupby(["layer", "dim"]).score.mean()
    assert np.allclose(suite.set_index(["layer", "dim"]).score.loc[members.index], members)
    full = frame[(frame.task == "ret") & (frame.layer == 3) & (frame.dim == 32)]
    assert full.quality_retained.iloc[0] == 1.0


def test_bad_precision_is_refused_before_any_work(tiny_encoder):
    with pytest.raises(ValueError, match="unknown embedding precision 'int4'"):
        task_grid(tiny_encoder, _tasks(), precisions=["int4"])


@pytest.mark.parametrize("kind", ["sts", "pair-class"])
@pytest.mark.parametrize("precision", ["fp32", "int8", "binary"])
def test_pair_cell_takes_gold_prepared_once(kind, precision):
    """A grid ranks an STS task's gold scores once (``Gold``); the metrics are those of the labels."""
    from workbench.evaluators.cells import pair_cell
    from workbench.evaluators.correlation import Gold

    gen = torch.Generator().manual_seed(0)
    e1, e2 = torch.randn(30, 16, generator=gen), torch.randn(30, 16, generator=gen)
    labels = (np.random.default_rng(0).random(30) > 0.5).astype(float)
    labels = labels if kind != "sts" else np.round(labels + np.random.default_rng(1).random(30), 1)
    plain = pair_cell(kind, e1, e2, labels, precision)
    prepared = pair_cell(kind, e1, e2, Gold(labels), precision)
    assert plain == prepared and np.isfinite(plain[0]["score"])
