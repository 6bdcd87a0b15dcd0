"""Weights that only come as pytorch_model.bin: refused by default, restricted unpickler on request."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification

from workbench.cli import main as cli
from workbench.models.bi_encoder import BiEncoder
from workbench.models.cross_encoder import CrossEncoder
from workbench.models.tiny import tiny_cross_encoder
from workbench.models.weights import PickleWeightsRefused

TEXTS = ["a man is playing guitar", "two dogs run in the park"]


def _bin_only(source: Path, out: Path, auto=AutoModel) -> Path:
    """A copy of ``source`` whose weights are a pytorch_model.bin (no safetensors)."""
    shutil.copytree(source, out)
    for f in out.glob("*.safetensors"):
        f.unlink()
    model = auto.from_pretrained(source)
    model.config.save_pretrained(out)
    torch.save(model.state_dict(), out / "pytorch_model.bin")
    assert (out / "pytorch_model.bin").exists() and not list(out.glob("*.safetensors"))
    return out


class _Payload:
    """Unpickling this runs ``Path.touch(marker)``: what a full pickle would execute."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_bin_is_refused_by_default_naming_file_and_switch(tiny_bert_dir, tmp_path):
    folder = _bin_only(tiny_bert_dir, tmp_path / "bin")
    with pytest.raises(PickleWeightsRefused) as err:
        BiEncoder.from_pretrained(folder)
    assert "pytorch_model.bin" in str(err.value) and "allow_pickle_weights=True" in str(err.value)
    assert "--allow-pickle-weights" in str(err.value)
    with pytest.raises(PickleWeightsRefused):
        CrossEncoder.from_pretrained(folder)


def test_bin_loads_with_the_switch_and_equals_safetensors(tiny_bert_dir, tmp_path):
    folder = _bin_only(tiny_bert_dir, tmp_path / "bin")
    ours = BiEncoder.from_pretrained(folder, allow_pickle_weights=True).encode(TEXTS)
    reference = BiEncoder.from_pretrained(tiny_bert_dir).encode(TEXTS)
    torch.testing.assert_close(ours, reference, atol=0, rtol=0)
    ce_source = tiny_cross_encoder(tmp_path / "ce")
    ce_folder = _bin_only(ce_source, tmp_path / "ce-bin", AutoModelForSequenceClassification)
    scores = CrossEncoder.from_pretrained(ce_folder, allow_pickle_weights=True).predict([TEXTS])
    torch.testing.assert_close(scores, CrossEncoder.from_pretrained(ce_source).predict([TEXTS]))


def test_the_switch_never_runs_a_full_pickle(tiny_bert_dir, tmp_path):
    folder = _bin_only(tiny_bert_dir, tmp_path / "evil")
    marker = tmp_path / "code-ran"
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    state["payload"] = _Payload(marker)
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(Exception, match="(?i)weights_only|unpickl|global"):
        BiEncoder.from_pretrained(folder, allow_pickle_weights=True)
    assert not marker.exists()


def test_cli_grid_takes_the_switch(tiny_bert_dir, tmp_path, capsys):
    folder = _bin_only(tiny_bert_dir, tmp_path / "bin")
    fixture = Path(__file__).resolve().parents[2] / "data" / "fixtures" / "tiny_stsb.csv"
    args = ["grid", str(folder), "--data", str(fixture), "--no-latency", "--out", str(tmp_path / "g")]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "pytorch_model.bin" in err and "--allow-pickle-weights" in err
    assert cli.main([*args, "--allow-pickle-weights"]) == 0
    assert (tmp_path / "g" / "grid.csv").exists()
