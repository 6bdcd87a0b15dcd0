"""The sentence-transformers layout: 6.2 reads our saves, we read its saves."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize, Transformer
from sentence_transformers.sentence_transformer.modules import Pooling

from workbench.models.bi_encoder import BiEncoder

TEXTS = ["a man is playing guitar", "a woman is riding a horse on the beach", "two dogs",
         "the child is reading a book in the park"]


def _st(path) -> torch.Tensor:
    return torch.tensor(SentenceTransformer(str(path), device="cpu").encode(TEXTS))


@pytest.mark.parametrize(("pooling", "normalize"), [("mean", True), ("cls", False),
                                                    ("max", True)])
def test_sentence_transformers_reads_our_save(tiny_bert_dir, tmp_path, pooling, normalize):
    enc = BiEncoder.from_pretrained(tiny_bert_dir, pooling_mode=pooling, normalize=normalize)
    enc.save(tmp_path)
    modules = json.loads((tmp_path / "modules.json").read_text())
    assert [m["path"] for m in modules] == ["", "1_Pooling"] + (["2_Normalize"] if normalize else [])
    assert (tmp_path / "model.safetensors").exists()
    assert not list(tmp_path.glob("*.bin"))
    theirs, ours = _st(tmp_path), enc.encode(TEXTS)
    assert F.cosine_similarity(theirs, ours).min().item() >= 0.99999
    assert (theirs - ours).abs().max().item() <= 1e-5


def test_we_read_a_sentence_transformers_save(tiny_bert_dir, tmp_path):
    transformer = Transformer(str(tiny_bert_dir), max_seq_length=64)
    st = SentenceTransformer(modules=[transformer, Pooling(32, pooling_mode="max"), Normalize()],
                             device="cpu")
    st.save(str(tmp_path))
    enc = BiEncoder.from_pretrained(tmp_path)
    assert (enc.pooling_mode, enc.normalize, enc.max_seq_length) == ("max", True, 64)
    theirs = torch.tensor(st.encode(TEXTS))
    assert F.cosine_similarity(theirs, enc.encode(TEXTS)).min().item() >= 0.99999


def test_minilm_matches_sentence_transformers(minilm_dir):
    enc = BiEncoder.from_pretrained(minilm_dir)
    assert (enc.num_layers, enc.hidden_size, enc.pooling_mode, enc.normalize) == (6, 384, "mean", True)
    assert F.cosine_similarity(_st(minilm_dir), enc.encode(TEXTS)).min().item() >= 0.99999


def test_our_save_round_trips(tiny_encoder, tmp_path):
    tiny_encoder.save(tmp_path)
    again = BiEncoder.from_pretrained(tmp_path)
    assert torch.equal(again.encode(TEXTS), tiny_encoder.encode(TEXTS))


def test_learned_dense_is_refused(tiny_encoder, tmp_path):
    from workbench.models.st_format import save_bi_encoder

    save_bi_encoder(tiny_encoder, tmp_path, truncate_dim=16)
    from safetensors.torch import save_file

    save_file({"linear.weight": torch.randn(16, 32)}, str(tmp_path / "2_Dense" / "model.safetensors"))
    with pytest.raises(ValueError, match="learned projection"):
        BiEncoder.from_pretrained(tmp_path)
