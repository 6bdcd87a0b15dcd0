"""The native attention's training kernels (forward with dropout, backward): outputs and
gradients equal float64 autograd within rounding, the dropout mask is a Bernoulli(k / 65536) drop
drawn again by the backward, and the padding-free training forward uses them."""

from __future__ import annotations

import pytest
import torch

from tests.fast.conftest import build, features
from tests.fast.test_native import LENGTHS, reference_attention, within_rounding
from workbench.fast import native_attention, unpadded
from workbench.fast.dropout import LANES, dropped


def spans(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor(lengths)
    return lengths.cumsum(0) - lengths, lengths


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("heads,dim", [(12, 32), (4, 8), (3, 20)])
def test_forward_and_gradients_equal_float64(heads, dim, dtype, threads):
    gen = torch.Generator().manual_seed(heads + dim)
    fused = (torch.randn(sum(LENGTHS), 3 * heads * dim, generator=gen) * 2).to(dtype)
    grad = torch.randn(sum(LENGTHS), heads * dim, generator=gen).to(dtype)
    leaf = fused.clone().requires_grad_()
    got = native_attention.attend_train(leaf, *spans(LENGTHS), heads, dim ** -0.5, 0.0)
    assert got is not None and got.dtype == dtype
    got.backward(grad)
    exact_leaf = fused.double().requires_grad_()
    exact = reference_attention(exact_leaf, LENGTHS, heads, dim ** -0.5, None)
    exact.backward(grad.double())
    within_rounding(got.detach(), exact.detach(), fp32_atol=2e-5)
    assert leaf.grad.dtype == dtype
    within_rounding(leaf.grad, exact_leaf.grad, fp32_atol=5e-5)


def kept_factors(lengths: list[int], heads: int, p: float, seed: int) -> torch.Tensor:
    """The kernel's dropout factors, read back through equal scores (P = 1 / n) and one-hot
    values: out[t, h, j] = factor(t, h, j) / n. Returns ``(tokens, heads, longest)``."""
    longest = max(lengths)
    fused = torch.zeros(sum(lengths), 3, heads, longest)
    start = 0
    for n in lengths:
        fused[start:start + n, 2, :, :n] = torch.eye(n).unsqueeze(1)  # value j = e_j, each head
        start += n
    torch.manual_seed(seed)
    out = native_attention.attend_train(fused.view(len(fused), -1), *spans(lengths), heads, 1.0, p)
    n_of_row = torch.repeat_interleave(torch.tensor(lengths), torch.tensor(lengths))
    return out.view(-1, heads, longest) * n_of_row.view(-1, 1, 1)


def test_dropout_is_bernoulli_with_the_lane_probability_and_scale():
    lengths, p = [40] * 30, 0.1
    factors = kept_factors(lengths, 4, p, seed=0)
    k = dropped(p)
    scale = LANES / (LANES - k)
    kept = factors > 0
    torch.testing.assert_close(factors[kept], torch.full_like(factors[kept], scale))
    drop_rate = 1 - kept.double().mean().item()  # 192,000 draws: sd 0.0007
    assert abs(drop_rate - k / LANES) < 0.004, drop_rate
    assert not torch.equal(kept_factors(lengths, 4, p, seed=1), factors)  # the seed matters
    assert torch.equal(kept_factors(lengths, 4, p, seed=0), factors)  # and reproduces


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dropout_gradients_equal_float64_with_the_same_mask(dtype):
    lengths, heads, dim, p = [5, 17, 33, 2], 3, 16, 0.3
    factors = kept_factors(lengths, heads, p, seed=7)
    gen = torch.Generator().manual_seed(1)
    fused = torch.randn(sum(lengths), 3 * heads * dim, generator=gen).to(dtype)
    grad = torch.randn(sum(lengths), heads * dim, generator=gen).to(dtype)
    leaf = fused.clone().requires_grad_()
    torch.manual_seed(7)
    got = native_attention.attend_train(leaf, *spans(lengths), heads, dim ** -0.5, p)
    got.backward(grad)
    exact_leaf = fused.double().requires_grad_()
    outs, start = [], 0
    for n in lengths:
        q, k, v = exact_leaf[start:start + n].view(n, 3, heads, dim).permute(1, 2, 0, 3)
        mask = factors[start:start + n, :, :n].double().transpose(0, 1)  # (heads, n, n)
        probs = (q @ k.transpose(-1, -2) * dim ** -0.5).softmax(-1) * mask
        outs.append((probs @ v).transpose(0, 1).reshape(n, heads * dim))
        start += n
    exact = torch.cat(outs)
    exact.backward(grad.double())
    within_rounding(got.detach(), exact.detach(), fp32_atol=2e-5)
    within_rounding(leaf.grad, exact_leaf.grad, fp32_atol=5e-5)


def test_declines_what_it_does_not_compute(monkeypatch):
    fused = torch.randn(5, 12)
    start, length = torch.tensor([0]), torch.tensor([5])
    assert native_attention.attend_train(fused.half(), start, length, 2, 0.5, 0.1) is None
    assert native_attention.attend_train(fused, start, length, 2, 0.5, 1.0) is None
    monkeypatch.setenv("WORKBENCH_NATIVE", "0")
    assert native_attention.attend_train(fused, start, length, 2, 0.5, 0.1) is None


def test_refuses_spans_outside_its_rows():
    with pytest.raises(ValueError, match="attention spans outside the rows"):
        native_attention.attend_train(torch.randn(10, 12), torch.tensor([0, 6]),
                                      torch.tensor([6, 5]), 2, 0.5, 0.0)


@pytest.mark.parametrize("arch", ["bert", "distilbert"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_forward_uses_it_and_keeps_torch_gradients(arch, precision, monkeypatch):
    """The padding-free forward with autograd (dropout 0: comparable) runs the kernels, and its
    parameter gradients equal the torch path's (kernels declined) within rounding."""
    calls, real = [], native_attention.attend_train

    def counted(*args):
        out = real(*args)
        calls.append(out is not None)
        return out

    model = build(arch)
    feats = features(model, [5, 9, 3, 12, 2, 7, 16])
    dtype = torch.bfloat16 if precision == "bf16" else None

    weights = torch.randn(int(feats["attention_mask"].sum()), 32,
                          generator=torch.Generator().manual_seed(3))

    def gradients() -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            states, _ = unpadded.hidden_states(model, feats)
        (states[-1].float() * weights).sum().backward()  # not the norm: LayerNorm fixes it
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    monkeypatch.setattr(native_attention, "attend_train", counted)
    ours = gradients()
    assert calls and all(calls)
    monkeypatch.setattr(native_attention, "attend_train", lambda *args: None)
    theirs = gradients()
    assert ours.keys() == theirs.keys()
    tol = 3e-2 if dtype else 1e-5  # of each gradient's largest element; the key biases'
    floor = 1e-3 * max(g.abs().max() for g in theirs.values())  # is 0 (softmax's invariance)
    for name in ours:
        off = (ours[name] - theirs[name]).abs().max() / max(theirs[name].abs().max(), floor)
        assert off <= tol, f"{name}: off by {off:.2e} of its largest element"
