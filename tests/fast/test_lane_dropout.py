"""Lane dropout (``workbench.fast.dropout``): a Bernoulli mask from 16-bit lanes of int64 draws.

Checked on a million elements: the drop rate of every lane position (a biased lane, e.g. the
always-positive top lane of a plain ``random_()``, fails it), the exact scale that keeps the
expectation, one mask shared by forward and backward, reproducibility under a seed.
"""

from __future__ import annotations

import pytest
import torch

from workbench.fast.dropout import LANES, dropout, dropped, lanes, scaled_mask

N = 1 << 20


@pytest.mark.parametrize("p", [0.1, 0.4])
def test_every_lane_drops_at_the_rate_asked(p):
    torch.manual_seed(0)
    kept = scaled_mask((N // 4, 4), p, torch.float32) != 0
    rate = dropped(p) / LANES
    assert abs(rate - p) <= 0.5 / LANES
    sigma = (rate * (1 - rate) / (N // 4)) ** 0.5
    for lane in range(4):  # each 16-bit lane of the int64 draws on its own
        assert abs((~kept[:, lane]).float().mean().item() - rate) < 5 * sigma


def test_lanes_are_uniform_over_all_16_bits():
    torch.manual_seed(1)
    values = lanes((N,)).view(-1, 4).long()
    for lane in range(4):
        counts = torch.bincount(values[:, lane] + 32768, minlength=LANES).view(256, 256).sum(1)
        expected = N / 4 / 256
        chi2 = ((counts - expected) ** 2 / expected).sum().item()
        assert chi2 < 400  # 255 degrees of freedom: mean 255, sd 23


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_kept_values_are_scaled_so_the_expectation_is_exact(dtype):
    torch.manual_seed(2)
    x = torch.randn(N // 8, dtype=dtype)
    y = dropout(x, 0.1)
    scale = torch.tensor(LANES / (LANES - dropped(0.1)), dtype=dtype)
    kept = y != 0
    assert y.dtype == dtype
    assert torch.equal(y[kept], x[kept] * scale)
    ones = dropout(torch.ones(N, dtype=torch.float64), 0.1)
    assert abs(ones.mean().item() - 1) < 5 * (0.1 / 0.9 / N) ** 0.5


def test_backward_uses_the_forward_mask():
    torch.manual_seed(3)
    x = (torch.rand(4096, 64) + 0.5).bfloat16().requires_grad_()  # no zeros: y == 0 iff dropped
    y = dropout(x, 0.3)
    grad = torch.randn_like(y)
    y.backward(grad)
    mask = y.detach() != 0
    scale = torch.tensor(LANES / (LANES - dropped(0.3)), dtype=torch.bfloat16)
    assert torch.equal(x.grad, torch.where(mask, grad * scale, 0))
    assert 0.25 < 1 - mask.float().mean().item() < 0.35


def test_seeded_draws_repeat_and_fresh_draws_differ():
    x = torch.randn(1000, 32)
    torch.manual_seed(4)
    first, second = dropout(x, 0.2), dropout(x, 0.2)
    torch.manual_seed(4)
    assert torch.equal(dropout(x, 0.2), first)
    assert not torch.equal(first, second)


def test_edges_and_bad_probabilities():
    x = torch.randn(64, 8)
    assert dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    with pytest.raises(ValueError, match="1.5"):
        dropout(x, 1.5)
