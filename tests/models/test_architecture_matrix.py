"""Every architecture the seed cards name, end to end on tiny random models built offline:
encode (fp32, bf16), one training step of every loss, the grid (fp32, bf16, latency), export
(reloaded by sentence-transformers), save/load, and the cross-encoder (predict vs ST, a BCE
step, the per-layer reranker grid). BERT, RoBERTa, XLM-R, DistilBERT, DeBERTa-v2, MPNet and
ModernBERT (when the installed transformers has it)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from sentence_transformers import CrossEncoder as STCrossEncoder
from sentence_transformers import SentenceTransformer

from tests.models.conftest import ARCHS
from workbench import losses as wb
from workbench.evaluators.grid import grid
from workbench.evaluators.reranker_grid import reranker_grid
from workbench.models.bi_encoder import BiEncoder
from workbench.models.cross_encoder import CrossEncoder
from workbench.models.export import cut_encoder
from workbench.models.tiny import tiny_cross_encoder

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "fixtures" / "tiny_stsb.csv"
TEXTS = ["a man is playing guitar", "A woman rides a horse on the beach", "two dogs",
         "the child is reading a book in the park with her old cat", "x"]
ANCHORS, POSITIVES, NEGATIVES = TEXTS[:4], TEXTS[1:5], TEXTS[::-1][:4]
SCORES = torch.tensor([1.0, 0.6, 0.2, 0.0])


@pytest.fixture(scope="module")
def pandas_stsb():
    import pandas as pd

    return pd.read_csv(FIXTURE).head(12)


@pytest.mark.parametrize("arch", ARCHS)
def test_encode_fp32_and_bf16(arch_dirs, arch):
    enc = BiEncoder.from_pretrained(arch_dirs[arch])
    fp32 = enc.encode_layers(TEXTS, batch_size=2)
    bf16 = enc.encode_layers(TEXTS, batch_size=2, precision="bf16")
    assert sorted(fp32) == [1, 2, 3]
    for k in fp32:
        assert fp32[k].shape == bf16[k].shape == (len(TEXTS), 32)
        assert F.cosine_similarity(fp32[k], bf16[k]).min().item() > 0.98, (arch, k)


def _losses(enc: BiEncoder) -> dict[str, tuple[torch.nn.Module, list[list[str]], torch.Tensor | None]]:
    mnrl, cosent = wb.MultipleNegativesRankingLoss(enc), wb.CoSENTLoss(enc)
    trip, pairs = [ANCHORS, POSITIVES, NEGATIVES], [ANCHORS, POSITIVES]
    return {
        "mnrl": (mnrl, trip, None), "cosent": (cosent, pairs, SCORES),
        "matryoshka": (wb.MatryoshkaLoss(enc, mnrl, [32, 16, 8]), trip, None),
        "adaptive_layer": (wb.AdaptiveLayerLoss(enc, mnrl, n_layers_per_step=-1,
                                                kl_div_weight=1.2, kl_temperature=1.2), trip, None),
        "matryoshka_2d": (wb.Matryoshka2dLoss(enc, cosent, [32, 16, 8]), pairs, SCORES),
        "starbucks": (wb.StarbucksLoss(enc, cosent, wb.starbucks_schedule(3, 32)), pairs, SCORES),
    }


@pytest.mark.parametrize("arch", ARCHS)
def test_one_training_step_of_every_loss(arch_dirs, arch):
    enc = BiEncoder.from_pretrained(arch_dirs[arch]).train()
    for name, (loss, columns, labels) in _losses(enc).items():
        before = {n: p.detach().clone() for n, p in enc.transformer.named_parameters()}
        optimizer = torch.optim.SGD(enc.parameters(), lr=0.1)
        value = loss([enc.tokenize(c) for c in columns], labels)
        value.backward()
        assert math.isfinite(value.item()), (arch, name)
        grads = [p.grad for p in enc.transformer.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), (arch, name)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        changed = [n for n, p in enc.transformer.named_parameters() if not torch.equal(p, before[n])]
        assert any(".0." in n or "layers.0" in n for n in changed), (arch, name)


@pytest.mark.parametrize("arch", ARCHS)
def test_grid_fp32_and_bf16_with_latency(arch_dirs, arch, pandas_stsb):
    enc = BiEncoder.from_pretrained(arch_dirs[arch])
    frames = {p: grid(enc, pandas_stsb, dims=[32, 16], precision=p, latency_sample=8,
                      batch_size=4) for p in ("fp32", "bf16")}
    for precision, frame in frames.items():
        assert sorted(zip(frame.layer, frame.dim, strict=True)) == [(k, d) for k in (1, 2, 3) for d in (16, 32)]
        assert frame.spearman_cosine.notna().all(), (arch, precision)
        assert (frame.latency_ms_per_1k > 0).all(), (arch, precision)
    diff = (frames["fp32"].spearman_cosine - frames["bf16"].spearman_cosine).abs().max()
    assert diff < 0.2, (arch, diff)


@pytest.mark.parametrize("arch", ARCHS)
def test_export_reloads_in_sentence_transformers_with_the_cell(arch_dirs, arch, tmp_path):
    enc = BiEncoder.from_pretrained(arch_dirs[arch])
    cut_encoder(enc, layers=2, dim=16).save(tmp_path / "cut")
    theirs = torch.from_numpy(SentenceTransformer(str(tmp_path / "cut"), device="cpu").encode(TEXTS))
    cell = enc.encode(TEXTS, layer=2, dim=16)
    assert theirs.shape == cell.shape == (len(TEXTS), 16)
    assert (theirs - cell).abs().max().item() <= 1e-5, arch
    assert (BiEncoder.from_pretrained(tmp_path / "cut").encode(TEXTS) - cell).abs().max() <= 1e-5


@pytest.mark.parametrize("arch", ARCHS)
def test_save_and_load_round_trip(arch_dirs, arch, tmp_path):
    enc = BiEncoder.from_pretrained(arch_dirs[arch])
    enc.save(tmp_path / "saved")
    again = BiEncoder.from_pretrained(tmp_path / "saved")
    assert (again.stack, again.max_seq_length, again.pooling_mode) == (
        enc.stack, enc.max_seq_length, enc.pooling_mode)
    torch.testing.assert_close(again.encode_layers(TEXTS), enc.encode_layers(TEXTS), atol=0, rtol=0)


@pytest.fixture(scope="module")
def ce_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ce-archs")
    return {arch: tiny_cross_encoder(root / arch, arch=arch, seed=i) for i, arch in enumerate(ARCHS)}


@pytest.mark.parametrize("arch", ARCHS)
def test_cross_encoder_predict_train_and_reranker_grid(ce_dirs, arch, pandas_stsb, tmp_path):
    ce = CrossEncoder.from_pretrained(ce_dirs[arch])
    pairs = list(zip(pandas_stsb.sentence1, pandas_stsb.sentence2, strict=True))[:6]
    scores = ce.predict(pairs, batch_size=4)
    ce.save(tmp_path / "ce")
    theirs = torch.from_numpy(STCrossEncoder(str(tmp_path / "ce"), device="cpu").predict(pairs))
    assert (scores - theirs.float()).abs().max().item() <= 1e-5, arch
    ce.train()
    loss = wb.BinaryCrossEntropyLoss(ce)
    value = loss(ce.tokenize(pairs), torch.tensor(pandas_stsb.score[:6].tolist()))
    value.backward()
    assert math.isfinite(value.item())
    torch.optim.SGD(ce.parameters(), lr=0.5).step()
    assert not torch.allclose(ce.predict(pairs), scores), arch
    frame = reranker_grid(ce, pandas_stsb, batch_size=4)
    assert list(frame.layer) == [1, 2, 3] and frame.spearman.notna().all(), arch
    assert (frame.latency_ms_per_1k > 0).all()
