"""Hand-made embeddings and stand-ins for sentence-transformers models (fixed vectors/scores).

The stand-ins let the real sentence-transformers 6.2 evaluator code run on exactly the vectors
our evaluators see, so parity tests compare statistics, not two encoders.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np


class FixedST:
    """Answers ``encode`` from a text -> vector table, like a SentenceTransformer would."""

    similarity_fn_name = "cosine"

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table
        self.model_card_data = SimpleNamespace(set_evaluation_metrics=lambda *a, **k: None)

    def encode(self, sentences, truncate_dim=None, **kwargs) -> np.ndarray:
        out = np.stack([self.table[s] for s in sentences])
        return out[:, :truncate_dim] if truncate_dim else out


class FixedCE:
    """Answers ``predict`` from a pair -> score table (both our and the reference call style)."""

    def __init__(self, table: dict[tuple[str, str], float]) -> None:
        self.table = table
        self.model_card_data = SimpleNamespace(set_evaluation_metrics=lambda *a, **k: None)

    def predict(self, pairs, batch_size=32, **kwargs) -> np.ndarray:
        return np.array([self.table[tuple(p)] for p in pairs], dtype=np.float32)


def make_pairs(n: int = 300, dim: int = 16, seed: int = 0, coarse: bool = False,
               dtype: type = np.float32) -> SimpleNamespace:
    """Random pairs whose gold score and 0/1 label follow their cosine (plus noise).

    ``coarse`` rounds vectors to halves so dot/manhattan scores tie often (threshold edge cases).
    Every 10th pair is the same text twice (cosine exactly 1: another tie group).
    ``dtype`` float64 checks that fp64 vectors are scored in fp64, as the reference does.
    """
    rng = np.random.default_rng(seed)
    e1 = rng.normal(size=(n, dim)).astype(dtype)
    e2 = (e1 * 0.6 + rng.normal(size=(n, dim)) * 0.8).astype(dtype)
    if coarse:
        e1, e2 = np.round(e1 * 2) / 2, np.round(e2 * 2) / 2
    s1 = [f"left {i}" for i in range(n)]
    s2 = [f"right {i}" if i % 10 else f"left {i}" for i in range(n)]
    e2[::10] = e1[::10]
    cos = (e1 * e2).sum(1) / np.linalg.norm(e1, axis=1) / np.linalg.norm(e2, axis=1)
    gold = np.clip(cos + rng.normal(scale=0.3, size=n), -1, 1)
    labels = (cos + rng.normal(scale=0.3, size=n) > 0.3).astype(int)
    table = {**dict(zip(s1, e1, strict=True)), **dict(zip(s2, e2, strict=True))}
    return SimpleNamespace(s1=s1, s2=s2, e1=e1, e2=e2, gold=gold.tolist(), labels=labels.tolist(),
                           model=FixedST(table))
