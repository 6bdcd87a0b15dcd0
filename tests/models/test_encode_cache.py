"""EncodeCache: each text encoded once for all its layers; cells equal BiEncoder.encode."""

from __future__ import annotations

import pytest
import torch

from workbench.models.encode_cache import EncodeCache

TEXTS = ["a man is playing guitar", "a dog runs in the park", "two girls are dancing"]


def test_cells_equal_the_encoder_and_texts_encode_once(tiny_encoder):
    calls = []
    original = tiny_encoder.encode_layers

    def counting(texts, *args, **kwargs):
        calls.append(list(texts))
        return original(texts, *args, **kwargs)

    tiny_encoder.encode_layers = counting
    cache = EncodeCache(tiny_encoder, [1, 3], batch_size=2)
    first = cache.encode(TEXTS, layer=1, dim=16)
    again = cache.encode([TEXTS[2], TEXTS[0], "new text"], layer=3)
    assert calls == [TEXTS, ["new text"]]  # only the new text was encoded again
    tiny_encoder.encode_layers = original
    torch.testing.assert_close(first, tiny_encoder.encode(TEXTS, layer=1, dim=16), atol=1e-5, rtol=0)
    torch.testing.assert_close(again[:2], tiny_encoder.encode([TEXTS[2], TEXTS[0]], layer=3),
                               atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="not cached"):
        cache.encode_layers(TEXTS, [2])
