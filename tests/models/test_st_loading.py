"""Loading as sentence-transformers 6.2 does: default stack for plain folders, exact modules for
ST folders, and the stack written back on save."""

from __future__ import annotations

import json

import pytest
import torch
from sentence_transformers import SentenceTransformer

from tests.models.conftest import ARCHS
from workbench.models import st_format
from workbench.models.bi_encoder import BiEncoder

TEXTS = ["a man is playing guitar", "A Woman is riding a horse on the BEACH",
         "two dogs", "the child is reading a book in the park with her old cat " * 3]


@pytest.mark.parametrize("arch", ARCHS)
def test_plain_folder_equals_sentence_transformers_default_stack(arch_dirs, arch):
    ours = BiEncoder.from_pretrained(arch_dirs[arch])
    theirs = SentenceTransformer(str(arch_dirs[arch]), device="cpu")
    assert [type(m).__name__ for m in theirs] == ours.stack == ["Transformer", "Pooling"]
    assert not ours.normalize and ours.max_seq_length == theirs.max_seq_length
    expected = torch.from_numpy(theirs.encode(TEXTS, batch_size=2))
    assert (ours.encode(TEXTS, batch_size=2) - expected).abs().max().item() <= 1e-5


def test_max_length_rule_caps_by_positions(arch_dirs, tmp_path):
    """Tokenizer limit above the position table: ST (and we) cap at max_position_embeddings."""
    enc = BiEncoder.from_pretrained(arch_dirs["bert"])
    enc.tokenizer.model_max_length = 10**30  # a tokenizer without a limit
    layout = st_format.read_bi_encoder_layout(str(arch_dirs["bert"]))
    assert st_format.st_max_seq_length(layout, enc.tokenizer, enc.transformer.config) == 128
    layout.max_seq_length = 200  # a saved sentence_bert_config.json wins, uncapped, as in ST
    assert st_format.st_max_seq_length(layout, enc.tokenizer, enc.transformer.config) == 200


def test_save_writes_the_stack_back(arch_dirs, tmp_path):
    enc = BiEncoder.from_pretrained(arch_dirs["bert"])
    enc.save(tmp_path / "plain")
    modules = json.loads((tmp_path / "plain" / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == ["Transformer", "Pooling"]
    assert json.loads((tmp_path / "plain" / "sentence_bert_config.json").read_text()) == {
        "max_seq_length": 128, "do_lower_case": False}
    again = BiEncoder.from_pretrained(tmp_path / "plain")
    assert (again.stack, again.max_seq_length) == (enc.stack, 128)
    torch.testing.assert_close(again.encode(TEXTS), enc.encode(TEXTS), atol=0, rtol=0)


def test_do_lower_case_is_applied_read_and_saved(arch_dirs, tmp_path):
    """RoBERTa's BPE is case-sensitive: do_lower_case must change and match ST's embeddings."""
    enc = BiEncoder.from_pretrained(arch_dirs["roberta"])
    cased = enc.encode(TEXTS)
    enc.do_lower_case = True
    enc.save(tmp_path / "lower")
    ours = BiEncoder.from_pretrained(tmp_path / "lower")
    theirs = SentenceTransformer(str(tmp_path / "lower"), device="cpu")
    assert ours.do_lower_case and theirs[0].do_lower_case
    lowered = ours.encode(TEXTS)
    assert (lowered - cased).abs().max() > 1e-3
    torch.testing.assert_close(lowered, ours.encode([t.lower() for t in TEXTS]))
    torch.testing.assert_close(lowered, torch.from_numpy(theirs.encode(TEXTS)), atol=1e-5, rtol=0)


def test_st_folder_gets_exactly_its_modules(minilm_dir):
    enc = BiEncoder.from_pretrained(minilm_dir)
    assert enc.stack == ["Transformer", "Pooling", "Normalize"] and enc.normalize
    assert enc.max_seq_length == 256


def test_unknown_module_is_refused_by_name(arch_dirs, tmp_path):
    enc = BiEncoder.from_pretrained(arch_dirs["bert"])
    enc.save(tmp_path / "m")
    modules = json.loads((tmp_path / "m" / "modules.json").read_text())
    modules.append({"idx": 2, "name": "2", "path": "2_LayerNorm",
                    "type": "sentence_transformers.models.LayerNorm"})
    (tmp_path / "m" / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ValueError, match="LayerNorm"):
        BiEncoder.from_pretrained(tmp_path / "m")
