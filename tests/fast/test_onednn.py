"""oneDNN linear layers of CPU inference and the equal-length attention groups."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import ACT2FN

from tests.fast.conftest import build, features, hf_pooled
from workbench.fast import groups, inference, onednn


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_linear_and_fused_gelu_equal_the_two_steps(dtype):
    torch.manual_seed(0)
    x, w, b = torch.randn(37, 24), torch.randn(40, 24) * 0.2, torch.randn(40)
    ref = F.linear(x, w, b)
    cast = [t.to(dtype) for t in (x, w, b)]
    tol = 1e-5 if dtype == torch.float32 else 5e-2
    cpu = torch.device("cpu")
    torch.testing.assert_close(onednn.linear_for(dtype, cpu)(*cast).float(), ref, atol=tol, rtol=tol)
    up = onednn.up_for(ACT2FN["gelu"], dtype, cpu)
    torch.testing.assert_close(up(*cast).float(), F.gelu(ref), atol=tol, rtol=tol)


def test_gelu_kinds():
    assert onednn.gelu_kind(ACT2FN["gelu"]) == "none"
    assert onednn.gelu_kind(F.gelu) == "none"
    assert onednn.gelu_kind(nn.GELU(approximate="tanh")) == "tanh"
    assert onednn.gelu_kind(ACT2FN["gelu_python"]) is None  # python erf: left as it is
    assert onednn.gelu_kind(F.relu) is None


def test_groups_are_runs_of_equal_length():
    mask = torch.tensor([[1] * 5, [1] * 5, [1] * 3 + [0] * 2, [1] * 3 + [0] * 2, [1] + [0] * 4])
    plan = groups.groups({"attention_mask": mask})
    assert plan.sizes == [(2, 5), (2, 3), (1, 1)]
    assert plan.starts.tolist() == [0, 5, 10, 13, 16] and len(plan.keep) == 17
    assert groups.sort_order({"attention_mask": mask}) is None
    assert groups.sort_order({"attention_mask": mask.flip(0)}).tolist() == [3, 4, 1, 2, 0]  # stable


@pytest.mark.parametrize("lengths", [[6, 6, 6, 2, 2, 9], [1, 1, 1]])
def test_equal_length_runs_equal_hf(arch, lengths, monkeypatch):
    """Runs of equal length (sorted or not, long or short enough for the matmul attention)."""
    model = build(arch)
    feats = features(model, lengths)
    reference = hf_pooled(model, feats)
    for limit in (0, 64):  # the CPU kernel everywhere, then the matmul attention everywhere
        monkeypatch.setitem(groups.MATH_MAX_LENGTH, torch.float32, limit)
        ours = inference.pooled(model, feats, [1, 3], "mean", "fp32")
        for k, emb in ours.items():
            torch.testing.assert_close(emb, reference[k], atol=1e-5, rtol=0,
                                       msg=f"{arch} layer {k}, math up to {limit}")


@pytest.mark.parametrize("width", [1, 5, 15, 16, 20])
def test_softmax_equals_torch(width):
    scores = torch.randn(3, 4, 7, width) * 5
    expected = (scores * 0.3).softmax(-1)
    torch.testing.assert_close(groups.softmax(scores.clone(), 0.3), expected, atol=1e-6, rtol=1e-5)


def test_each_gelu_post_op_is_checked_itself(monkeypatch):
    """``works(dtype, "none")`` checks the exact (erf) GELU post-op, not the plain linear."""
    if not onednn.works(torch.float32):
        pytest.skip("this torch build has no oneDNN linear")
    onednn.works.cache_clear()
    monkeypatch.setattr(onednn, "_gelu", lambda x, w, b, kind: onednn.linear(x, w, b))  # no GELU
    try:
        assert onednn.works(torch.float32)
        assert not onednn.works(torch.float32, "none") and not onednn.works(torch.float32, "tanh")
    finally:
        onednn.works.cache_clear()
        onednn.packs.cache_clear()


def test_the_checks_hold_when_first_asked_under_autocast():
    for check in (onednn.works, onednn.packs):
        check.cache_clear()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        found = {dt: onednn.works(dt) for dt in (torch.float32, torch.bfloat16)}
    for check in (onednn.works, onednn.packs):
        check.cache_clear()
    assert found == {dt: onednn.works(dt) for dt in (torch.float32, torch.bfloat16)}
