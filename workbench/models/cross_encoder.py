"""Cross-encoder reranker: a transformer reading both texts at once, one logit per pair.

``AutoModelForSequenceClassification`` with ``num_labels=1``; scores are ``sigmoid(logit)``, as
in sentence-transformers' ``CrossEncoder`` trained with binary cross-entropy. Saves are read by
``sentence_transformers.CrossEncoder`` (2.x to 6.2), and its saves are read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from workbench.fast import unpadded
from workbench.models import st_format
from workbench.models.precision import MixedPrecision, precision_context
from workbench.models.specs import hub_error, resolve_model

Pair = tuple[str, str] | list[str]


class CrossEncoder(MixedPrecision, nn.Module):
    """Scores text pairs jointly (Nogueira & Cho 2019, "Passage Re-ranking with BERT").

    Args:
        model: a Hugging Face ``AutoModelForSequenceClassification`` with one label.
        tokenizer: its tokenizer.
        max_length: tokens kept per pair.

    Example:
        >>> ce = CrossEncoder.from_pretrained("path/to/reranker")
        >>> ce.rank("a man plays guitar", ["a man is playing music", "a cat sleeps"])
    """

    def __init__(self, model: nn.Module, tokenizer, max_length: int = 512) -> None:
        super().__init__()
        if model.config.num_labels != 1:
            raise ValueError(f"a CrossEncoder needs one label, the model has {model.config.num_labels}")
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.base_model_name: str | None = None

    @classmethod
    def from_pretrained(cls, spec: str | Path, max_length: int | None = None,
                        trust_remote_code: bool = False) -> CrossEncoder:
        """Load a folder (ours or sentence-transformers'), a Hub id or an alias.

        A bi-encoder or base model gets a new, randomly initialised one-logit head (to train).
        """
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        source = resolve_model(spec)
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                source, num_labels=1, trust_remote_code=trust_remote_code, use_safetensors=True)
        except OSError as err:
            raise hub_error(str(spec), err) from err
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        length = max_length or st_format.read_max_length(source, model.config, tokenizer)
        ce = cls(model, tokenizer, max_length=length)
        ce.base_model_name = str(spec)
        return ce

    def save(self, folder: str | Path) -> Path:
        """Write the sentence-transformers cross-encoder layout (safetensors weights)."""
        return st_format.save_cross_encoder(self.model, self.tokenizer, folder, self.max_length)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def tokenize(self, pairs: Sequence[Pair]) -> dict[str, torch.Tensor]:
        """Tokenise pairs jointly (``[CLS] a [SEP] b [SEP]``), padded and truncated."""
        first, second = [p[0] for p in pairs], [p[1] for p in pairs]
        return dict(self.tokenizer(first, second, padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt"))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Raw logits, shape (B,), under the encoder's own ``forward_precision``. A training BERT
        skips the padding work (same function)."""
        return self._in_precision(self._forward, features)

    def _forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        features = {k: v.to(self.device) for k, v in features.items()}
        if (self.model.training and torch.is_grad_enabled()
                and unpadded.supports_classifier(self.model, features)):
            return unpadded.classifier_logits(self.model, features).squeeze(-1)
        return self.model(**features, return_dict=True).logits.squeeze(-1)

    @torch.inference_mode()
    def predict(self, pairs: Sequence[Pair], batch_size: int = 32, precision: str = "fp32",
                show_progress: bool | None = None) -> torch.Tensor:
        """Sigmoid scores in [0, 1] for each pair, shape (N,), fp32 on CPU."""
        pairs = [tuple(p) for p in pairs]
        order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]) - len(pairs[i][1]))
        scores = torch.empty(len(pairs))
        was_training = self.training
        self.eval()
        show = len(pairs) > 10 * batch_size if show_progress is None else show_progress
        starts = range(0, len(order), batch_size)
        with precision_context(precision, self.device):
            for start in tqdm(starts, desc="predict", disable=not show, leave=False):
                idx = order[start:start + batch_size]
                logits = self(self.tokenize([pairs[i] for i in idx]))
                scores[idx] = torch.sigmoid(logits.float()).cpu()
        self.train(was_training)
        return scores

    def rank(self, query: str, documents: Sequence[str], top_k: int | None = None,
             return_documents: bool = True, batch_size: int = 32) -> list[dict]:
        """Documents sorted by score: ``[{"corpus_id", "score", "text"}, ...]`` (best first)."""
        scores = self.predict([(query, doc) for doc in documents], batch_size=batch_size)
        order = torch.argsort(scores, descending=True, stable=True).tolist()[:top_k]
        results = []
        for i in order:
            hit = {"corpus_id": i, "score": float(scores[i])}
            if return_documents:
                hit["text"] = documents[i]
            results.append(hit)
        return results
