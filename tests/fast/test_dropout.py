"""Dropout in the padding-free forward: the same sites and probabilities as Hugging Face's.

The masks themselves differ (no draws for padding), so the test compares distributions: every
sequence repeated R times in one batch gives R independent draws of the last hidden state; the
per-element mean and spread must agree with the padded forward's within sampling error. A
negative control (the padded forward with the attention and hidden probabilities swapped) must
fail the same check, so the check can tell a wrong site or probability apart.
"""

from __future__ import annotations

import torch

from tests.fast.conftest import build, features
from workbench.fast import unpadded

DRAWS = 60
ATTENTION_P, HIDDEN_P = 0.4, 0.1


def _draws(model, feats, ours: bool) -> torch.Tensor:
    """(DRAWS, real tokens, hidden): last hidden states of every real token, one row per draw."""
    big = {k: v.repeat(DRAWS, 1) for k, v in feats.items()}
    with torch.no_grad():
        if ours:
            states, keep = unpadded.hidden_states(model, big)
            last = unpadded.repad(states[-1], keep, tuple(big["attention_mask"].shape))
        else:
            last = model(**big).last_hidden_state
    real = feats["attention_mask"].bool()
    return last.view(DRAWS, *real.shape, -1)[:, real]


def _agree(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same mean (within 5 standard errors on 99% of elements) and the same spread (10%)."""
    se = ((a.var(0) + b.var(0)) / DRAWS).sqrt()
    z = (a.mean(0) - b.mean(0)).abs() / se
    spread = (a.std(0).mean() / b.std(0).mean()).item()
    return bool((z < 5).float().mean() > 0.99) and 0.9 < spread < 1.1


def test_dropout_draws_have_hf_distribution(arch):
    torch.manual_seed(0)
    kw = dict(attention_probs_dropout_prob=ATTENTION_P, hidden_dropout_prob=HIDDEN_P)
    model = build(arch, **kw).train()
    feats = features(model, lengths=[9, 4, 13])
    ours, theirs = _draws(model, feats, True), _draws(model, feats, False)
    assert ours.std(0).mean() > 0  # dropout is on
    assert _agree(ours, theirs)
    swapped = build(arch, attention_probs_dropout_prob=HIDDEN_P,
                    hidden_dropout_prob=ATTENTION_P).train()
    assert not _agree(ours, _draws(swapped, feats, False))
