"""Export: the first K layers and D dims as a standalone model sentence-transformers 6.2 reads."""

from __future__ import annotations

import json

import torch
import torch.nn.functional as F
from safetensors import safe_open
from sentence_transformers import SentenceTransformer

from workbench.models.bi_encoder import BiEncoder
from workbench.models.export import export_cut

TEXTS = ["a man is playing guitar", "a woman is riding a horse on the beach", "two dogs",
         "the child is reading a book in the park"]


def _check_export(encoder: BiEncoder, out, layers: int, dim: int) -> None:
    config = json.loads((out / "config.json").read_text())
    assert config["num_hidden_layers"] == layers
    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        names = list(weights.keys())  # noqa: SIM118 - safe_open is not iterable
    kept = {int(k.split("layer.")[1].split(".")[0]) for k in names if "layer." in k}
    assert kept == set(range(layers))  # later layers' weights are gone
    st = SentenceTransformer(str(out), device="cpu")
    assert st[0].model.config.num_hidden_layers == layers
    theirs = torch.tensor(st.encode(TEXTS))
    ours = encoder.encode(TEXTS, layer=layers, dim=dim)
    assert theirs.shape == ours.shape == (len(TEXTS), dim)
    assert F.cosine_similarity(theirs, ours).min().item() >= 0.99999
    again = BiEncoder.from_pretrained(out)
    full = dim == encoder.hidden_size
    assert again.num_layers == layers and again.truncate_dim == (None if full else dim)
    assert (again.encode(TEXTS) - ours).abs().max().item() <= 1e-5


def test_export_tiny_reloads_with_the_cell_embeddings(tiny_encoder, tmp_path):
    result = export_cut(tiny_encoder, layers=2, dim=16, out=tmp_path, texts=TEXTS * 4, repeats=1)
    _check_export(tiny_encoder, tmp_path, 2, 16)
    assert result.cut_params < result.full_params and result.size_bytes > 0
    assert result.full_seconds > 0 and result.cut_seconds > 0
    assert "speed-up x" in result.summary() and "MiB" in result.summary()


def test_export_full_dim_writes_no_dense(tiny_encoder, tmp_path):
    export_cut(tiny_encoder, layers=1, dim=None, out=tmp_path, texts=TEXTS, repeats=1)
    assert not (tmp_path / "2_Dense").exists()
    _check_export(tiny_encoder, tmp_path, 1, tiny_encoder.hidden_size)


def test_export_minilm(minilm_dir, tmp_path):
    encoder = BiEncoder.from_pretrained(minilm_dir)
    result = export_cut(encoder, layers=3, dim=128, out=tmp_path, texts=TEXTS, repeats=1)
    _check_export(encoder, tmp_path, 3, 128)
    assert result.size_bytes < 0.8 * 4 * result.full_params  # 3 of 6 layers: well under full fp32
