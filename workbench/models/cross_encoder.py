"""Cross-encoder reranker: a transformer reading both texts at once, one logit per pair.

``AutoModelForSequenceClassification`` with ``num_labels=1``; scores are ``sigmoid(logit)``, as
in sentence-transformers' ``CrossEncoder`` trained with binary cross-entropy. Saves are read by
``sentence_transformers.CrossEncoder`` (2.x to 6.2), and its saves are read here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from workbench.fast import inference, unpadded
from workbench.fast.padding import pad_like
from workbench.fast.tokens import token_columns
from workbench.models import st_format
from workbench.models.layers import cut_blocks
from workbench.models.precision import MixedPrecision, precision_context
from workbench.models.segment_pooling import (
    padded_segment_features,
    second_segment,
    segment_features,
)
from workbench.models.specs import resolve_model
from workbench.models.st_pooled_head import head_layers

Pair = tuple[str, str] | list[str]


POOLINGS = ("cls", "mean", "segments")
SEGMENT_SCALE, SEGMENT_CENTRE = 10.0, 0.5
"""A new segment head starts as ``sigmoid(SEGMENT_SCALE * (cos(u, v) - SEGMENT_CENTRE))``."""


def classifier_pooling(model: nn.Module) -> str:
    """What the head reads: ``"cls"`` (the first token, Hugging Face's default), ``"mean"``
    (the mean of the real tokens' states) or ``"segments"`` (the two texts' states compared,
    :mod:`workbench.models.segment_pooling`), from ``config.classifier_pooling``."""
    pooling = getattr(model.config, "classifier_pooling", None) or "cls"
    if pooling not in POOLINGS:
        raise ValueError(f"classifier_pooling must be one of {POOLINGS}, got {pooling!r}")
    return pooling


def pool_states(states: torch.Tensor, mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """``(B, T, H)`` states to the ``(B, 1, H)`` row the head reads: ``[CLS]`` or the masked mean
    ``sum_t m_t h_t / sum_t m_t`` (sentence-transformers' ``Pooling("mean")``)."""
    if pooling == "cls":
        return states[:, :1]
    if mask is None:
        raise ValueError("mean pooling needs the attention mask")
    weights = mask.unsqueeze(-1).to(states.dtype)
    return ((states * weights).sum(1) / weights.sum(1).clamp(min=1)).unsqueeze(1)


def own_head(model: nn.Module) -> bool:
    """A head :func:`head_logits` applies itself: BERT-style (pooler) or RoBERTa-style."""
    pooler = getattr(model.base_model, "pooler", None)
    return ((pooler is not None and hasattr(model, "dropout"))
            or type(getattr(model, "classifier", None)).__name__.endswith("ClassificationHead"))


def segment_logits(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """The segment head: the model's output layer (BERT ``classifier``, RoBERTa ``out_proj``)
    on ``z`` (:func:`~workbench.models.segment_pooling.segment_features`) after its dropout."""
    layers = head_layers(model)
    if layers is None:
        raise ValueError(f"{type(model).__name__}: segment pooling needs a BERT-style (pooler + "
                         "classifier) or RoBERTa-style (dense + out_proj) head")
    dropout = getattr(model, "dropout", None) or model.classifier.dropout
    return layers[1](dropout(z))


def init_segment_head(model: nn.Module) -> None:
    """Start a segment head as a scaled cosine: ``w = SEGMENT_SCALE / H`` in every dimension and
    ``b = -SEGMENT_SCALE * SEGMENT_CENTRE``, so ``logit = SEGMENT_SCALE * (cos(u, v) - SEGMENT_CENTRE)``."""
    output = head_layers(model)[1]
    with torch.no_grad():
        output.weight.fill_(SEGMENT_SCALE / output.in_features)
        output.bias.fill_(-SEGMENT_SCALE * SEGMENT_CENTRE)


def sep_token_id(model: nn.Module) -> int:
    """The separator between a pair's texts (``config.sep_token_id``, set at load)."""
    sep = getattr(model.config, "sep_token_id", None)
    if sep is None:
        raise ValueError("segment pooling needs config.sep_token_id (the tokenizer's sep_token_id)")
    return int(sep)


def head_logits(model: nn.Module, states: torch.Tensor, mask: torch.Tensor | None = None,
                input_ids: torch.Tensor | None = None) -> torch.Tensor:
    """The classification head of ``model`` on one layer's ``(B, T, H)`` states, ``(B, 1)``.

    BERT-style (pooler + dropout + classifier) and RoBERTa-style heads (``classifier`` reads
    ``[:, 0]`` itself), as ``AutoModelForSequenceClassification`` applies them, on the row
    :func:`pool_states` picks (``[CLS]``, or the mean of the tokens ``mask`` keeps); with
    ``"segments"`` pooling, :func:`segment_logits` (``input_ids`` mark the two texts).
    """
    if classifier_pooling(model) == "segments":
        if mask is None or input_ids is None:
            raise ValueError("segment pooling needs the attention mask and the input ids")
        return segment_logits(model, padded_segment_features(states, mask, input_ids,
                                                             sep_token_id(model)))
    pooler = getattr(model.base_model, "pooler", None)
    if pooler is not None and hasattr(model, "dropout"):
        states = pool_states(states, mask, classifier_pooling(model))
        return model.classifier(model.dropout(pooler(states)))
    if type(getattr(model, "classifier", None)).__name__.endswith("ClassificationHead"):
        return model.classifier(pool_states(states, mask, classifier_pooling(model)))
    raise ValueError(f"{type(model).__name__}: per-layer scores need a BERT-style (pooler) or "
                     "RoBERTa-style classification head")


@contextlib.contextmanager
def cut_cross_encoder(ce: CrossEncoder, k: int) -> Iterator[CrossEncoder]:
    """Temporarily keep the first ``k`` blocks of ``ce``'s encoder (restored on exit)."""
    with cut_blocks(ce.model.base_model, k):
        yield ce


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
                        trust_remote_code: bool = False, allow_pickle_weights: bool = False,
                        pooling: str | None = None) -> CrossEncoder:
        """Load a folder (ours or sentence-transformers'), a Hub id or an alias.

        A bi-encoder or base model gets a new, randomly initialised one-logit head (to train);
        ``pooling`` (``"cls"`` | ``"mean"`` | ``"segments"``, for a new head) sets what that head
        reads, kept in ``config.classifier_pooling``; ``None`` keeps the saved choice (default
        ``"cls"``). Switching to ``"segments"`` starts the head as a scaled cosine
        (:func:`init_segment_head`).
        Weights come from safetensors; ``allow_pickle_weights=True`` also reads a
        ``pytorch_model.bin`` through torch's restricted ``weights_only`` unpickler.
        """
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from workbench.models.weights import load_pretrained

        source = resolve_model(spec)
        model = load_pretrained(AutoModelForSequenceClassification, source, allow_pickle_weights,
                                trust_remote_code, num_labels=1)
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        length = max_length or st_format.read_max_length(source, model.config, tokenizer)
        if pooling == "segments" and classifier_pooling(model) != "segments":
            if getattr(model.config, "sep_token_id", None) is None:
                model.config.sep_token_id = tokenizer.sep_token_id
            init_segment_head(model)
        if pooling is not None:
            model.config.classifier_pooling = pooling
        classifier_pooling(model)  # an unknown saved value fails here, not at the first score
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
        """Tokenise pairs jointly (``[CLS] a [SEP] b [SEP]``), padded and truncated: what
        ``tokenizer(first, second, padding=True, truncation=True)`` returns, without its per-pair
        Python conversion (:mod:`workbench.fast.tokens`)."""
        first, second = [p[0] for p in pairs], [p[1] for p in pairs]
        columns = token_columns(self.tokenizer, first, second, self.max_length)
        return pad_like(self.tokenizer, columns, range(len(first)))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Raw logits, shape (B,), under the encoder's own ``forward_precision``. A registered
        classifier (``workbench.fast.registry``) skips the padding work, in training and in
        ``predict`` (same function)."""
        return self._in_precision(self._forward, features)

    def _forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        features = {k: v.to(self.device) for k, v in features.items()}
        pooling = self.pooling
        if pooling == "segments":  # the last layer of the per-layer path
            return self._layer_logits(features, [self.num_layers])[self.num_layers]
        if unpadded.supports_classifier(self.model, features):
            return unpadded.classifier_logits(self.model, features, pooling).squeeze(-1)
        if pooling == "cls" or not own_head(self.model):  # e.g. ModernBERT pools by itself
            return self.model(**features, return_dict=True).logits.squeeze(-1)
        states = self.model.base_model(**features, return_dict=True).last_hidden_state
        return head_logits(self.model, states, features["attention_mask"]).squeeze(-1)

    @property
    def pooling(self) -> str:
        """What the head reads: ``"cls"``, ``"mean"`` or ``"segments"`` (:func:`classifier_pooling`)."""
        return classifier_pooling(self.model)

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def forward_layers(self, features: dict[str, torch.Tensor],
                       layers: Sequence[int]) -> dict[int, torch.Tensor]:
        """``{k: logits (B,)}`` from ONE forward: the head on each layer ``k``'s states.

        Layer ``k``'s logit is what the reranker cut to its first ``k`` blocks outputs (one shared
        head), so a layer-adaptive loss trains exactly the cut models. A training BERT skips
        the padding work. Runs under the encoder's own ``forward_precision``.
        """
        return self._in_precision(self._layer_logits, features, layers)

    def _layer_logits(self, features: dict[str, torch.Tensor],
                      layers: Sequence[int]) -> dict[int, torch.Tensor]:
        features = {k: v.to(self.device) for k, v in features.items()}
        if self.pooling == "segments" and unpadded.supports_classifier(self.model, features):
            return self._packed_segment_logits(features, layers)
        if (self.model.training and torch.is_grad_enabled()
                and unpadded.supports_classifier(self.model, features)):
            return unpadded.classifier_layer_logits(self.model, features, layers, self.pooling)
        states = self.model.base_model(**features, output_hidden_states=True,
                                       return_dict=True).hidden_states
        mask, ids = features["attention_mask"], features.get("input_ids")
        return {k: head_logits(self.model, states[k], mask, ids).squeeze(-1)
                for k in sorted(set(layers))}

    def _packed_segment_logits(self, features: dict[str, torch.Tensor],
                               layers: Sequence[int]) -> dict[int, torch.Tensor]:
        """Segment-head logits of each layer in ``layers`` on the padding-free path."""
        layers = sorted(set(layers))
        states, plan = unpadded.packed_layer_states(self.model, features, layers)
        batch, length = plan.shape
        second = second_segment(features["input_ids"], sep_token_id(self.model))
        second = second.reshape(-1)[plan.keep]
        return {k: segment_logits(self.model, segment_features(
            states[k], plan.keep // length, second, batch)).squeeze(-1) for k in layers}

    @torch.inference_mode()
    def predict(self, pairs: Sequence[Pair], batch_size: int = 32, precision: str = "fp32",
                show_progress: bool | None = None, layer: int | None = None) -> torch.Tensor:
        """Sigmoid scores in [0, 1] for each pair, shape (N,), fp32 on CPU.

        ``layer=k`` scores with the reranker cut to its first ``k`` blocks (the blocks are
        really dropped for the call, so it costs what a k-layer model costs).
        """
        if layer is not None and layer != self.num_layers:
            with cut_cross_encoder(self, layer):
                return self.predict(pairs, batch_size, precision, show_progress)
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
                logits = self._predict_logits(self.tokenize([pairs[i] for i in idx]), precision)
                scores[idx] = torch.sigmoid(logits.float()).cpu()
        self.train(was_training)
        return scores

    def _predict_logits(self, features: dict[str, torch.Tensor], precision: str) -> torch.Tensor:
        """``predict``'s logits: on the CPU a registered classifier with a "cls" or "mean" head
        runs on prepared weights (``fast.inference.classifier_logits``), else ``forward``."""
        if (self.device.type == "cpu" and self.forward_precision == "fp32"
                and self.pooling in ("cls", "mean")
                and unpadded.supports_classifier(self.model, features)):
            return inference.classifier_logits(self.model, features, self.pooling, precision)
        return self(features)

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
