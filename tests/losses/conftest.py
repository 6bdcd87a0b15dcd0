"""Loss-test fixtures: our BiEncoder and sentence-transformers over the SAME saved weights.

Both sides run in eval mode (no dropout) and float64, so parity is exact up to summation order
and a 1e-5 tolerance on losses and gradients can only fail on a real difference.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
import torch

ANCHORS = ["a man is playing guitar", "a dog runs in the park", "two girls are dancing",
           "an old red car", "a woman is reading a book"]
POSITIVES = ["a man plays music", "a dog is running outside", "girls dancing to music",
             "a red car on the street", "a woman reads"]
NEGATIVES = ["a cat is sitting on the table", "food on a table", "a boy is riding a horse",
             "water at the beach", "people walking in the street"]
SCORES = torch.tensor([1.0, 0.8, 0.6, 0.2, 0.0])


@pytest.fixture(scope="module", params=[True, False], ids=["normalize", "no-normalize"])
def st_folder(request, tiny_bert_dir, tmp_path_factory):
    """The tiny BERT saved by our BiEncoder in the sentence-transformers layout, once with a
    Normalize module and once without (ST's default stack for a plain model: the KL terms of
    AdaptiveLayer and Starbucks then see raw, unnormalised embeddings)."""
    from workbench.models.bi_encoder import BiEncoder

    folder = tmp_path_factory.mktemp("st-layout")
    BiEncoder.from_pretrained(tiny_bert_dir, normalize=request.param).save(folder)
    return folder


@pytest.fixture(scope="module")
def pair(st_folder):
    """(ours, theirs): BiEncoder and SentenceTransformer, same weights, eval, float64."""
    from sentence_transformers import SentenceTransformer

    from workbench.models.bi_encoder import BiEncoder

    ours = BiEncoder.from_pretrained(st_folder).eval().double()
    theirs = SentenceTransformer(str(st_folder), device="cpu").eval().double()
    assert ours.normalize == (theirs[-1].__class__.__name__ == "Normalize")
    return ours, theirs


def grads(module: torch.nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    return {name.removeprefix(prefix): p.grad.clone() for name, p in module.named_parameters()
            if p.grad is not None}


def assert_same(ours_loss: torch.Tensor, theirs_loss: torch.Tensor, ours_grads: dict,
                theirs_grads: dict, atol: float = 1e-5) -> None:
    assert abs(ours_loss.item() - theirs_loss.item()) <= atol, (ours_loss, theirs_loss)
    assert ours_grads.keys() == theirs_grads.keys() and ours_grads
    for name, grad in ours_grads.items():
        torch.testing.assert_close(grad, theirs_grads[name], atol=atol, rtol=0, msg=name)


@pytest.fixture()
def run_parity(pair) -> Callable:
    """Run our loss and ST's on the same batch (same `random` seed), compare loss and grads."""
    ours, theirs = pair

    def run(our_loss, their_loss, columns, labels=None, seed=0):
        ours.zero_grad(set_to_none=True)
        theirs.zero_grad(set_to_none=True)
        features = [ours.tokenize(c) for c in columns]
        random.seed(seed)
        mine = our_loss([dict(f) for f in features], labels)
        mine.backward()
        random.seed(seed)
        ref = their_loss([dict(f) for f in features], labels)
        ref.backward()
        assert_same(mine, ref, grads(ours.transformer), grads(theirs[0].auto_model))
        return mine.item()

    return run
