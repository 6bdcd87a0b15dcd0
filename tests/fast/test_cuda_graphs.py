"""CUDA-graph encoding: static-shape batches, the dense capturable forward, one graph per shape.

Off the GPU the graph "capture" is a plain call on the same buffers, so everything but
``torch.cuda.graph`` itself is checked here; the last test runs the real capture where CUDA is.
"""

from __future__ import annotations

import random

import pytest
import torch

from tests.fast.conftest import build, features, hf_pooled
from tests.fast.test_inference import TEXTS
from workbench import settings
from workbench.fast import cuda_graphs, inference, registry


def test_bucket_length_rounds_up_to_the_step_within_the_maximum():
    step = cuda_graphs.LENGTH_STEP
    assert [cuda_graphs.bucket_length(n, 64) for n in (1, step, step + 1, 63)] == [
        step, step, 2 * step, 64]
    assert cuda_graphs.bucket_length(61, 62) == 62  # never past the longest allowed


def test_static_batches_give_every_text_once_in_few_static_shapes():
    rng = random.Random(0)
    lengths = [rng.randint(1, 100) for _ in range(500)]
    batches = list(cuda_graphs.static_batches(lengths, 512, 100))
    seen = [i for idx, _, _ in batches for i in idx]
    assert sorted(seen) == list(range(500))
    assert [lengths[i] for i in seen] == sorted(lengths, reverse=True)  # longest first
    rows_of = {}
    for idx, rows, length in batches:
        assert 1 <= len(idx) <= rows
        assert all(cuda_graphs.bucket_length(lengths[i], 100) == length for i in idx)
        assert rows_of.setdefault(length, rows) == rows == max(1, 512 // length)
    assert len({(r, n) for _, r, n in batches}) == len(rows_of) <= 100 // cuda_graphs.LENGTH_STEP + 1


def test_pad_to_grows_rows_and_slots_with_pad_ids_and_empty_masks():
    feats = {"input_ids": torch.tensor([[5, 6, 7], [8, 9, 1]]),
             "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]])}
    out = cuda_graphs.pad_to(feats, 4, 8, pad_id=1)
    assert out["input_ids"].shape == out["attention_mask"].shape == (4, 8)
    assert out["input_ids"][:2, :3].equal(feats["input_ids"])
    assert (out["input_ids"][2:] == 1).all() and (out["input_ids"][:, 3:] == 1).all()
    assert out["attention_mask"].sum() == feats["attention_mask"].sum()


@pytest.mark.parametrize("mode", ["mean", "cls", "max"])
def test_dense_forward_with_filler_rows_equals_hf(arch, mode):
    model = build(arch)
    feats = features(model, pairs=arch == "bert")
    reference = hf_pooled(model, feats, mode)
    static = cuda_graphs.pad_to(feats, len(feats["input_ids"]) + 3, 24, model.config.pad_token_id
                                or 0)
    found = registry.lookup(model)
    weights = [inference.prepared(found, b, torch.float32) for b in found.blocks(model)]
    bias = None if found.bias is None else found.bias(model, 24)
    with torch.inference_mode():
        ours = cuda_graphs.dense_pooled(found, model, static, weights, [0, 2, 3], mode,
                                        torch.float32, bias)
    n = len(feats["input_ids"])
    for k, emb in ours.items():
        assert emb.shape[0] == n + 3
        torch.testing.assert_close(emb[:n], reference[k], atol=1e-5, rtol=0,
                                   msg=f"{arch} layer {k}")


SYNCING = {"aten.nonzero", "aten._local_scalar_dense", "aten.repeat_interleave",
           "aten.masked_select", "aten._unique2", "aten.unique_consecutive", "aten.item"}
"""Ops whose output size or value the host must read: they cannot run inside a CUDA graph."""


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dense_forward_reads_nothing_back_to_the_host(arch, dtype, monkeypatch):
    from torch.utils._python_dispatch import TorchDispatchMode

    from workbench.fast import native

    class Ops(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.seen = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.seen.add(str(func.overloadpacket))
            return func(*args, **(kwargs or {}))

    monkeypatch.setattr(native, "function", lambda *_: None)  # torch ops, as on CUDA
    model = build(arch)
    static = cuda_graphs.pad_to(features(model), 8, 24, model.config.pad_token_id or 0)
    found = registry.lookup(model)
    weights = [inference.prepared(found, b, dtype) for b in found.blocks(model)]
    bias = None if found.bias is None else found.bias(model, 24)
    with torch.inference_mode(), Ops() as ops:
        cuda_graphs.dense_pooled(found, model, static, weights, [0, 3], "mean", dtype, bias)
    assert {"aten.linear", "aten.layer_norm", "aten.softmax"} <= ops.seen  # torch's path ran
    assert not ops.seen & SYNCING


def test_one_graph_per_shape_made_again_when_weights_change(tiny_encoder, monkeypatch):
    captures = []
    original = cuda_graphs.capture
    monkeypatch.setattr(cuda_graphs, "capture", lambda *a: captures.append(1) or original(*a))
    model = tiny_encoder.transformer.eval()
    feats = features(model, lengths=[9, 4, 2])
    small = cuda_graphs.pad_to(feats, 4, 16, 0)
    prepare = lambda arch, block: inference.prepared(arch, block, torch.float32)  # noqa: E731

    def run(batch):
        with torch.inference_mode():
            return cuda_graphs.graphed_pooled(model, batch, [1, 3], "mean", torch.float32, prepare)

    inference.new_pass()
    first, again = run(small), run(small)
    assert len(captures) == 1 and first[3].data_ptr() != again[3].data_ptr()  # fresh outputs
    torch.testing.assert_close(first[3], again[3], atol=0, rtol=0)
    run(cuda_graphs.pad_to(feats, 8, 16, 0))
    assert len(captures) == 2  # a new shape
    with torch.no_grad():
        weight = model.encoder.layer[2].output.dense.weight
        weight.add_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)))
    inference.new_pass()
    changed = run(small)
    assert len(captures) == 3 and not torch.allclose(changed[3], first[3])
    torch.testing.assert_close(changed[1], first[1], atol=0, rtol=0)


def test_encode_through_static_shapes_equals_the_padding_free_encode(tiny_encoder, monkeypatch):
    plain = tiny_encoder.encode_layers(TEXTS * 3, batch_size=2)
    monkeypatch.setattr(cuda_graphs, "enabled", lambda device: True)
    graphed = tiny_encoder.encode_layers(TEXTS * 3 + ["one more text"], batch_size=2)
    for k, emb in plain.items():
        torch.testing.assert_close(graphed[k][:len(TEXTS) * 3], emb, atol=1e-5, rtol=0)


def test_graphs_are_opt_in(monkeypatch):
    monkeypatch.delenv(settings.CUDA_GRAPHS_ENV, raising=False)
    assert not cuda_graphs.enabled("cuda")
    monkeypatch.setenv(settings.CUDA_GRAPHS_ENV, "1")
    assert cuda_graphs.enabled("cuda") and not cuda_graphs.enabled("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: run on a GPU machine")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_captured_graphs_equal_the_eager_cuda_encode(tiny_encoder, monkeypatch, precision):
    tiny_encoder.to("cuda")
    eager = tiny_encoder.encode_layers(TEXTS * 5, batch_size=2, precision=precision)
    monkeypatch.setenv(settings.CUDA_GRAPHS_ENV, "1")
    graphed = tiny_encoder.encode_layers(TEXTS * 5, batch_size=2, precision=precision)
    again = tiny_encoder.encode_layers(TEXTS * 5, batch_size=2, precision=precision)
    tol = 1e-5 if precision == "fp32" else 2e-2
    for k, emb in eager.items():
        torch.testing.assert_close(graphed[k].cpu(), emb.cpu(), atol=tol, rtol=0)
        torch.testing.assert_close(again[k], graphed[k], atol=0, rtol=0)


def test_grid_latency_is_timed_after_every_shape_is_captured(tiny_encoder, monkeypatch):
    from workbench.evaluators.grid import latency_per_depth

    captures, per_call = [], []
    original_capture, original_encode = cuda_graphs.capture, tiny_encoder.encode_layers
    monkeypatch.setattr(cuda_graphs, "enabled", lambda device: True)
    monkeypatch.setattr(cuda_graphs, "capture", lambda *a: captures.append(1) or original_capture(*a))

    def encode_layers(*args, **kwargs):
        before = len(captures)
        out = original_encode(*args, **kwargs)
        per_call.append(len(captures) - before)
        return out

    monkeypatch.setattr(tiny_encoder, "encode_layers", encode_layers)
    texts = [f"{TEXTS[i % len(TEXTS)]} {'and more ' * (i % 7)}" for i in range(40)]
    latency_per_depth(tiny_encoder, texts, [1, 3], batch_size=2)
    assert len(per_call) == 4 and per_call[0] > 1 and per_call[2] > 1  # warm: every shape
    assert per_call[1] == per_call[3] == 0  # timed: replays only


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_fallback_encode_is_untouched_by_the_graph_setting(tiny_encoder, monkeypatch,
                                                               precision):
    monkeypatch.setattr(inference, "supported", lambda *_: False)  # Hugging Face's forward
    plain = tiny_encoder.encode_layers(TEXTS, batch_size=2, precision=precision)
    monkeypatch.setattr(cuda_graphs, "enabled", lambda device: True)
    with_setting = tiny_encoder.encode_layers(TEXTS, batch_size=2, precision=precision)
    for k, emb in plain.items():
        torch.testing.assert_close(with_setting[k], emb, atol=0, rtol=0)
