"""Native kernels (workbench/fast/kernels/): built here, equal to float64 references within
rounding, used by the padding-free inference, and a failed build falls back to torch, said once."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.fast.conftest import build, features, hf_pooled
from workbench.fast import inference, native, native_attention, native_layer_norm, unpadded

LENGTHS = [1, 15, 16, 17, 33, 70, 4, 130, 3, 5, 7, 9, 10, 11, 12, 13, 14]
"""Every tail the kernel's blocked loops can leave: keys 1..15 past a block of 16, queries and
key rows 1..7 past a block of 8."""


def reference_attention(fused: torch.Tensor, lengths: list[int], heads: int, scale: float,
                        bias: torch.Tensor | None) -> torch.Tensor:
    """softmax(scale q k^T + bias) v per sequence and head, in float64."""
    width, outs, start = fused.shape[1] // 3, [], 0
    for n in lengths:
        q, k, v = fused[start:start + n].double().view(n, 3, heads, -1).permute(1, 2, 0, 3)
        scores = q @ k.transpose(-1, -2) * scale
        if bias is not None:
            scores = scores + bias[0, :, :n, :n].double()
        outs.append((scores.softmax(-1) @ v).transpose(0, 1).reshape(n, width))
        start += n
    return torch.cat(outs)


def within_rounding(got: torch.Tensor, exact: torch.Tensor, fp32_atol: float) -> None:
    """fp32: within ``fp32_atol``; bf16: within half a bf16 unit in the last place (round to
    nearest, once, on store) plus ``fp32_atol`` (the kernel's fp32 arithmetic)."""
    if got.dtype == torch.float32:
        torch.testing.assert_close(got.double(), exact, atol=fp32_atol, rtol=0)
        return
    half_ulp = torch.finfo(torch.bfloat16).eps / 2 * exact.abs()
    excess = (got.double() - exact).abs() - half_ulp - fp32_atol
    assert excess.max() <= 0, f"off by more than half a bf16 ulp: {excess.max():.3g}"


@pytest.fixture()
def used(monkeypatch) -> list[bool]:
    """Whether each call of the native attention ran the kernel (True) or declined (False)."""
    calls, real = [], native_attention.attend

    def attend(*args):
        out = real(*args)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(native_attention, "attend", attend)
    return calls


@pytest.fixture()
def fresh_library():
    """The libraries this process loaded are forgotten before and after the test (which points
    WORKBENCH_CACHE or CXX elsewhere)."""
    native._library.cache_clear()
    yield
    native._library.cache_clear()


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("heads,dim", [(12, 32), (4, 8), (2, 64), (3, 20)])
@pytest.mark.parametrize("with_bias", [False, True])
def test_attention_equals_float64(heads, dim, dtype, with_bias, threads):
    gen = torch.Generator().manual_seed(heads * dim)
    lengths = torch.tensor(LENGTHS)
    fused = (torch.randn(int(lengths.sum()), 3 * heads * dim, generator=gen) * 2).to(dtype)
    bias = torch.randn(1, heads, 130, 130, generator=gen) if with_bias else None
    got = native_attention.attend(fused, lengths.cumsum(0) - lengths, lengths, heads,
                                  dim ** -0.5, bias)
    assert got is not None and got.dtype == dtype and got.shape == (len(fused), heads * dim)
    exact = reference_attention(fused, LENGTHS, heads, dim ** -0.5, bias)
    within_rounding(got, exact, fp32_atol=2e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_portable_build_equals_float64(monkeypatch, tmp_path, fresh_library, dtype):
    """Built without -march=native (no AVX-512 branches, generic vector code), as on a compiler
    or processor that lacks them: the same results within rounding."""
    monkeypatch.setattr(native, "FLAGS", (["-O3"],))
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    gen = torch.Generator().manual_seed(7)
    lengths = torch.tensor(LENGTHS)
    for heads, dim in ((3, 20), (2, 32)):
        fused = (torch.randn(int(lengths.sum()), 3 * heads * dim, generator=gen) * 2).to(dtype)
        got = native_attention.attend(fused, lengths.cumsum(0) - lengths, lengths, heads,
                                      dim ** -0.5)
        assert got is not None
        within_rounding(got, reference_attention(fused, LENGTHS, heads, dim ** -0.5, None), 2e-5)
    x, residual, weight, bias = (torch.randn(33, 20, generator=gen).to(dtype) for _ in range(4))
    got = native_layer_norm.add_layer_norm(x, residual, weight[0], bias[0], 1e-12)
    exact = F.layer_norm(x.double() + residual.double(), (20,), weight[0].double(),
                         bias[0].double(), 1e-12)
    assert got is not None
    within_rounding(got, exact, fp32_atol=1e-5)
    built = sorted(p.name.split("-")[0] for p in (tmp_path / "native").glob("*.so"))
    assert built == ["attention", "layer_norm"]


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("cols", [384, 32, 20, 33])
def test_add_layer_norm_equals_float64(dtype, cols, threads):
    gen = torch.Generator().manual_seed(cols)
    x, residual = (torch.randn(101, cols, generator=gen).to(dtype) for _ in range(2))
    weight, bias = (torch.randn(cols, generator=gen).to(dtype) for _ in range(2))
    got = native_layer_norm.add_layer_norm(x, residual * 3 + 1, weight, bias, 1e-12)
    exact = F.layer_norm(x.double() + (residual * 3 + 1).double(), (cols,), weight.double(),
                         bias.double(), 1e-12)
    assert got is not None and got.dtype == dtype
    within_rounding(got, exact, fp32_atol=1e-5)


def test_add_layer_norm_leaves_autograd_to_torch():
    x = torch.randn(4, 32, requires_grad=True)
    ones, zeros = torch.ones(32), torch.zeros(32)
    assert native_layer_norm.add_layer_norm(x, torch.randn(4, 32), ones, zeros, 1e-5) is None
    with torch.no_grad():
        assert native_layer_norm.add_layer_norm(x, torch.randn(4, 32), ones, zeros, 1e-5) is not None
    assert native_layer_norm.add_layer_norm(x.detach().half(), x.detach().half(), ones.half(),
                                            zeros.half(), 1e-5) is None  # fp16: not a kernel dtype


@pytest.mark.parametrize("kernels", ["native", "torch"])
def test_inference_equals_hf_with_and_without_kernels(arch, kernels, monkeypatch, used):
    monkeypatch.setenv("WORKBENCH_NATIVE", "1" if kernels == "native" else "0")
    model = build(arch)
    feats = features(model, lengths=[11, 3, 7, 1, 16, 9, 40, 40, 2])
    reference = hf_pooled(model, feats)
    ours = inference.pooled(model, feats, [1, 3], "mean", "fp32")
    for k, emb in ours.items():
        torch.testing.assert_close(emb, reference[k], atol=1e-5, rtol=0, msg=f"{arch} layer {k}")
    bf16 = inference.pooled(model, feats, [3], "mean", "bf16")[3]
    assert F.cosine_similarity(bf16, ours[3]).min() > 0.99
    assert used == [kernels == "native"] * 6  # 3 blocks, fp32 and bf16


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_cross_encoder_logits_through_the_kernels(arch, pooling, monkeypatch, used):
    """Without autograd (predict, evaluation) the classifier's padding-free forward attends by
    the native kernel too, every block but a "cls" head's last (only [CLS] rows query there),
    and gives torch's bucketed logits at every layer (and, "cls", Hugging Face's)."""
    model = build(arch, head=True)
    feats = features(model, lengths=[11, 3, 7, 1, 16, 9, 40, 40, 2], pairs=arch == "bert")
    with torch.no_grad():
        ours = unpadded.classifier_layer_logits(model, feats, [1, 3], pooling)
        assert used == [True] * (3 if pooling == "mean" else 2)
        monkeypatch.setenv("WORKBENCH_NATIVE", "0")
        bucketed = unpadded.classifier_layer_logits(model, feats, [1, 3], pooling)
        if pooling == "cls":
            torch.testing.assert_close(ours[3], model(**feats).logits.squeeze(-1), atol=1e-5,
                                       rtol=0)
    for k in (1, 3):
        torch.testing.assert_close(ours[k], bucketed[k], atol=1e-5, rtol=0, msg=f"layer {k}")
    monkeypatch.delenv("WORKBENCH_NATIVE")
    used.clear()
    unpadded.classifier_layer_logits(model, feats, [3], pooling)  # autograd: torch's buckets
    assert used == []


def test_failed_build_falls_back_to_torch_and_says_why(monkeypatch, tmp_path, caplog,
                                                        fresh_library):
    monkeypatch.setenv("CXX", "false")  # a "compiler" that always fails
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="workbench.fast"):
        assert native.library("attention") is None
        assert native_attention.kernel() is None
    assert "native kernel attention could not be built" in caplog.text
    assert "exit 1" in caplog.text
    model = build("bert")
    feats = features(model)
    ours = inference.pooled(model, feats, [2], "mean", "fp32")[2]
    torch.testing.assert_close(ours, hf_pooled(model, feats)[2], atol=1e-5, rtol=0)


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("WORKBENCH_NATIVE", "off")
    assert native.library("attention") is None
    fused = torch.randn(5, 3 * 8)
    assert native_attention.attend(fused, torch.tensor([0]), torch.tensor([5]), 2, 0.5) is None
    norm = (torch.ones(8), torch.zeros(8), 1e-5)
    assert native_layer_norm.add_layer_norm(fused[:, :8], fused[:, 8:16], *norm) is None
    torch.testing.assert_close(native_layer_norm.add_norm(fused[:, :8], fused[:, 8:16], norm),
                               F.layer_norm(fused[:, :8] + fused[:, 8:16], (8,), *norm))


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc")
def test_kernels_add_no_openmp_runtime_to_torchs():
    """A second OpenMP runtime would be a second thread pool spinning against torch's: in a fresh
    process, loading the kernels maps no OpenMP library that torch had not mapped already."""
    script = """
import re, torch
from workbench.fast import native_attention, native_layer_norm
def runtimes():
    maps = open("/proc/self/maps").read().splitlines()
    return {line.split()[-1] for line in maps if re.search(r"lib(g|i)?omp", line)}
before = runtimes()
assert native_attention.kernel() is not None and native_layer_norm.kernel() is not None
print(sorted(runtimes() - before))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "WORKBENCH_NATIVE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", done.stdout


def test_builds_into_an_empty_cache_and_rebuilds_a_broken_file(monkeypatch, tmp_path,
                                                                fresh_library):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "empty"))
    assert native.library("layer_norm") is not None
    assert len(list((tmp_path / "empty" / "native").glob("layer_norm-*.so"))) == 1
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "broken"))
    native._library.cache_clear()
    source = native.KERNELS / "layer_norm.cpp"
    key = native._key(source, native._compiler(), native.FLAGS[0])
    broken = native._cache() / f"layer_norm-{key}.so"
    broken.write_bytes(b"not a shared library")  # e.g. a copy cut short
    assert native.function("layer_norm", "wb_add_layer_norm", []) is not None
    assert broken.read_bytes()[:4] == b"\x7fELF"


def test_an_unwritable_cache_falls_back_to_torch(monkeypatch, tmp_path, caplog, fresh_library):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("WORKBENCH_CACHE", str(blocker / "cache"))  # a path under a file
    with caplog.at_level(logging.WARNING, logger="workbench.fast"):
        assert native.library("layer_norm") is None
    assert "could not be built" in caplog.text and "a-file" in caplog.text


def test_attention_refuses_spans_outside_its_rows():
    fused = torch.randn(10, 3 * 8)
    with pytest.raises(ValueError, match="outside the rows"):
        native_attention.attend(fused, torch.tensor([0, 6]), torch.tensor([6, 5]), 2, 0.5)
    with pytest.raises(ValueError, match="bias"):
        native_attention.attend(fused, torch.tensor([0]), torch.tensor([10]), 2, 0.5,
                                torch.zeros(1, 2, 8, 8))
