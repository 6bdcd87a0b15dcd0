"""Export of a reranker cut to j layers: loads in sentence-transformers 6.2's CrossEncoder with the
scores of ``CrossEncoder.predict(pairs, layer=j)``; ``workbench export`` takes a saved reranker."""

from __future__ import annotations

import json

import pytest
import torch
from sentence_transformers import CrossEncoder as STCrossEncoder

from workbench.cli.main import main
from workbench.models.cross_encoder import CrossEncoder
from workbench.models.export import export_cut
from workbench.models.specs import tiny_cross_encoder

PAIRS = [("a man is playing guitar", "a man plays music"), ("a dog", "the cat is on the table"),
         ("two people are walking", "people walk"), ("a woman is riding a horse", "a red car")]


@pytest.fixture(scope="module")
def saved_reranker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reranker")
    CrossEncoder.from_pretrained(tiny_cross_encoder(tmp_path_factory.mktemp("tiny-ce"))).save(folder)
    return folder


@pytest.fixture(scope="module")
def saved_mean_reranker(tmp_path_factory):
    """A reranker whose head reads the mean of the token states (the adaptive variant's)."""
    folder = tmp_path_factory.mktemp("mean-reranker")
    tiny = tiny_cross_encoder(tmp_path_factory.mktemp("tiny-ce-mean"))
    CrossEncoder.from_pretrained(tiny, pooling="mean").save(folder)
    return folder


@pytest.mark.parametrize("pooling", ["cls", "mean"])
@pytest.mark.parametrize("layers", [1, 2])
def test_cut_reranker_loads_in_sentence_transformers_with_identical_scores(
        saved_reranker, saved_mean_reranker, tmp_path, layers, pooling):
    ce = CrossEncoder.from_pretrained(saved_mean_reranker if pooling == "mean" else saved_reranker)
    assert ce.pooling == pooling
    result = export_cut(ce, layers=layers, dim=None, out=tmp_path, texts=[p[0] for p in PAIRS],
                        repeats=1)
    assert json.loads((tmp_path / "config.json").read_text())["num_hidden_layers"] == layers
    assert result.cut_params < result.full_params
    theirs = torch.tensor(STCrossEncoder(str(tmp_path), device="cpu").predict(PAIRS))
    ours = ce.predict(PAIRS, layer=layers)
    torch.testing.assert_close(theirs, ours, atol=1e-6, rtol=0)
    assert not torch.allclose(ours, ce.predict(PAIRS), atol=1e-3)  # a real cut, not the full model
    assert ce.num_layers == 3  # the source model is untouched


def test_mean_pooled_reranker_round_trips_and_loads_in_sentence_transformers(saved_mean_reranker):
    modules = json.loads((saved_mean_reranker / "modules.json").read_text())
    assert [m["path"] for m in modules] == ["", "1_Pooling", "2_Dense", "3_Dense"]
    ours = CrossEncoder.from_pretrained(saved_mean_reranker)
    theirs = torch.tensor(STCrossEncoder(str(saved_mean_reranker), device="cpu").predict(PAIRS))
    torch.testing.assert_close(theirs, ours.predict(PAIRS), atol=1e-6, rtol=0)
    ours.model.config.classifier_pooling = "cls"  # the same weights read at [CLS] differ
    assert not torch.allclose(theirs, ours.predict(PAIRS), atol=1e-4)


def test_workbench_export_takes_a_saved_reranker(saved_reranker, tmp_path, capsys):
    out = tmp_path / "cut"
    assert main(["export", str(saved_reranker), "--layers", "1", "--out", str(out),
                 "--repeats", "1", "--sample", "8"]) == 0
    assert "layers=1" in capsys.readouterr().out
    again = CrossEncoder.from_pretrained(out)
    assert again.num_layers == 1
    torch.testing.assert_close(again.predict(PAIRS),
                               CrossEncoder.from_pretrained(saved_reranker).predict(PAIRS, layer=1))
    with pytest.raises(ValueError, match="no embedding to truncate"):
        export_cut(again, layers=1, dim=16, out=tmp_path / "x")
