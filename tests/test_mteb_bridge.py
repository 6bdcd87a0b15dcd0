"""``mteb.evaluate`` on a workbench cell, offline (local data in mteb's own task classes)."""

from __future__ import annotations

import numpy as np
import pytest

mteb = pytest.importorskip("mteb", reason="mteb is a test extra")  # installed by `make test`
from datasets import Dataset, DatasetDict  # noqa: E402
from mteb.mocks.mock_tasks.retrieval import MockRetrievalTask  # noqa: E402
from mteb.mocks.mock_tasks.sts import MockSTSTask  # noqa: E402

from workbench import mteb_model  # noqa: E402
from workbench.data.tasks import load_task  # noqa: E402
from workbench.evaluators.cells import pair_cell  # noqa: E402


class LocalSTS(MockSTSTask):
    """mteb's STS task class over the first 40 pairs of the local STSB test split."""

    def load_data(self, num_proc=None, **kwargs):
        s1, s2, scores = load_task("stsb", max_pairs=40).pairs
        self.dataset = DatasetDict({"test": Dataset.from_dict(
            {"sentence1": s1, "sentence2": s2, "score": list(map(float, scores))})})
        self.data_loaded = True


def _main_scores(result) -> dict[str, float]:
    return {r.task_name: r.get_score() for r in result.task_results}


@pytest.mark.parametrize("precision", ["fp32", "int8", "binary"])
def test_mteb_evaluate_runs_on_a_cell(tiny_encoder, shared_data, tmp_path, precision):
    cell = mteb_model(tiny_encoder, layer=2, dim=16, precision=precision)
    result = mteb.evaluate(cell, [LocalSTS(), MockRetrievalTask()], cache=None,
                           overwrite_strategy="always", show_progress_bar=False)
    scores = _main_scores(result)
    assert set(scores) == {"MockSTSTask", "MockRetrievalTask"}
    assert all(np.isfinite(v) for v in scores.values())
    s1, s2, gold = load_task("stsb", max_pairs=40).pairs
    e1 = tiny_encoder.encode(s1, layer=2, dim=16)
    e2 = tiny_encoder.encode(s2, layer=2, dim=16)
    if precision == "fp32":  # mteb's main STS score is the cosine of what encode returns
        ours = pair_cell("sts", e1, e2, gold, precision)[0]["score"]
        assert scores["MockSTSTask"] == pytest.approx(ours, abs=1e-6)
    assert cell.mteb_model_meta.embed_dim == 16
