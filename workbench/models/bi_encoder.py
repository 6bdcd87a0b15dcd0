"""Bi-encoder: a Hugging Face transformer + pooling + optional L2 normalisation.

One transformer forward yields embeddings for every layer (layer k pools ``hidden_states[k]``,
k = 1..L) and every leading-dimension truncation (Matryoshka: slice, then re-normalise), so a
full layer x dimension grid costs a single encode pass.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from workbench.fast import bf16_inference, cuda_graphs, inference, unpadded
from workbench.models import st_format
from workbench.models.precision import PRECISIONS, MixedPrecision
from workbench.models.specs import check_cell, resolve_model

POOLING_MODES = ("mean", "cls", "max")


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str = "mean") -> torch.Tensor:
    """Pool token states (B, T, H) to sentence vectors (B, H) over non-padding tokens."""
    if mode == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "max":
        return hidden.masked_fill(m == 0, torch.finfo(hidden.dtype).min).max(dim=1).values
    if mode == "mean":
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    raise ValueError(f"unknown pooling mode '{mode}'; choose one of {POOLING_MODES}")


def cut_readout(transformer: nn.Module, hidden: torch.Tensor, k: int) -> torch.Tensor:
    """``hidden_states[k]`` as the model cut to k layers outputs it.

    Pre-LayerNorm encoders that end in a final norm (ModernBERT's ``final_norm``) apply it to the
    last layer only; a model cut to k layers applies it to layer k, so every k < L gets it here.
    Post-LayerNorm encoders (BERT, RoBERTa, DistilBERT, DeBERTa, MPNet) are returned unchanged.
    """
    norm = getattr(transformer, "final_norm", None)
    if norm is None or k >= transformer.config.num_hidden_layers:
        return hidden
    return norm(hidden)


def distinct_texts(texts: Sequence[str]) -> tuple[list[str], torch.Tensor | None]:
    """The distinct ``texts`` in first-seen order and, where some repeat, the row of each input
    text among them (``None``: none repeats). TypeError naming the first text that is not a str."""
    texts = list(texts)
    wrong = next((i for i, text in enumerate(texts) if not isinstance(text, str)), None)
    if wrong is not None:
        raise TypeError(f"texts[{wrong}] is a {type(texts[wrong]).__name__} "
                        f"({texts[wrong]!r:.60}), not a str: encode takes a list of strings")
    row_of: dict[str, int] = {}
    for text in texts:
        row_of.setdefault(text, len(row_of))
    if len(row_of) == len(texts):
        return texts, None
    return list(row_of), torch.tensor([row_of[text] for text in texts], dtype=torch.long)


def truncate(emb: torch.Tensor, dim: int | None, normalize: bool = True) -> torch.Tensor:
    """Keep the first ``dim`` dimensions (Matryoshka, Kusupati et al. 2022), re-normalised."""
    if dim is not None:
        if dim > emb.shape[-1] or dim < 1:
            raise ValueError(f"dimension {dim} is not available: embeddings have {emb.shape[-1]}")
        emb = emb[..., :dim]
    return F.normalize(emb, p=2, dim=-1) if normalize else emb


class BiEncoder(MixedPrecision, nn.Module):
    """Sentence encoder whose every layer and leading dimension is a usable embedding.

    Args:
        transformer: a Hugging Face ``AutoModel``.
        tokenizer: its tokenizer.
        pooling_mode: "mean", "cls" or "max".
        normalize: L2-normalise the pooled vectors (a ``Normalize`` module; sentence-transformers'
            default stack for a plain Hugging Face model has none).
        max_seq_length: tokens kept per text.
    """

    def __init__(self, transformer: nn.Module, tokenizer, pooling_mode: str = "mean",
                 normalize: bool = False, max_seq_length: int = 256) -> None:
        super().__init__()
        if pooling_mode not in POOLING_MODES:
            raise ValueError(f"unknown pooling mode '{pooling_mode}'; choose one of {POOLING_MODES}")
        self.transformer = transformer
        self.tokenizer = tokenizer
        self.pooling_mode = pooling_mode
        self.normalize = normalize
        self.max_seq_length = max_seq_length
        self.base_model_name: str | None = None
        self.truncate_dim: int | None = None
        """Default output dims of ``encode`` (set by exports; saved as an identity ``Dense``)."""
        self.do_lower_case = False
        """The Transformer module's ``do_lower_case`` (applied to the tokenizer, saved back)."""

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, spec: str | Path, pooling_mode: str | None = None,
                        normalize: bool | None = None, max_seq_length: int | None = None,
                        trust_remote_code: bool = False,
                        allow_pickle_weights: bool = False) -> BiEncoder:
        """Load a folder, a Hub id or an alias as sentence-transformers 6.2 does.

        A sentence-transformers folder gets exactly its modules (``modules.json``); a plain
        Hugging Face folder or Hub id gets ST's default stack: Transformer (length = tokenizer
        ``model_max_length`` capped by ``max_position_embeddings``) + mean Pooling, no Normalize.
        Weights are read from safetensors; ``allow_pickle_weights=True`` also reads a
        ``pytorch_model.bin`` through torch's restricted ``weights_only`` unpickler.
        """
        source = resolve_model(spec)
        layout = st_format.read_bi_encoder_layout(source)
        transformer, tokenizer = st_format.load_transformer(source, trust_remote_code,
                                                            allow_pickle_weights)
        if layout.do_lower_case:
            st_format.apply_lower_case(tokenizer)
        enc = cls(
            transformer, tokenizer,
            pooling_mode=pooling_mode or layout.pooling_mode,
            normalize=layout.normalize if normalize is None else normalize,
            max_seq_length=max_seq_length or st_format.st_max_seq_length(
                layout, tokenizer, transformer.config),
        )
        enc.do_lower_case = layout.do_lower_case
        enc.base_model_name = str(spec)
        enc.truncate_dim = layout.truncate_dim
        return enc

    @property
    def stack(self) -> list[str]:
        """The sentence-transformers modules this encoder is (and saves as)."""
        return (["Transformer", "Pooling"] + (["Dense"] if self.truncate_dim else [])
                + (["Normalize"] if self.normalize else []))

    def save(self, folder: str | Path) -> Path:
        """Write the sentence-transformers layout (modules.json & co, safetensors weights)."""
        return st_format.save_bi_encoder(self, folder, truncate_dim=self.truncate_dim)

    # ---- shape ------------------------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        return int(self.transformer.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.transformer.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def check_cell(self, layer: int | None = None, dim: int | None = None) -> None:
        """Raise a clear error for a layer or dimension this model does not have."""
        check_cell(self.num_layers, self.hidden_size, layer, dim)

    # ---- forward ----------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenise a batch with padding and truncation to ``max_seq_length``."""
        return dict(self.tokenizer(list(texts), padding=True, truncation=True,
                                   max_length=self.max_seq_length, return_tensors="pt"))

    def forward(self, features: dict[str, torch.Tensor],
                layers: Sequence[int] | None = None) -> dict[int, torch.Tensor]:
        """ONE transformer forward; pooled (and normalised) embeddings for each requested layer.

        ``layers=None`` returns only the last layer. Costs one forward whatever the layer count.
        Layer 0 is the embedding output (``hidden_states[0]``), which AdaptiveLayerLoss trains.
        Runs under the encoder's own ``forward_precision`` (autocast, outputs in fp32).
        """
        return self._in_precision(self._forward, features, layers)

    def _forward(self, features: dict[str, torch.Tensor],
                 layers: Sequence[int] | None) -> dict[int, torch.Tensor]:
        wanted = [self.num_layers] if layers is None else sorted(set(layers))
        for k in wanted:
            if k != 0:
                self.check_cell(layer=k)
        features = {k: v.to(self.device) for k, v in features.items()}
        states = self._hidden_states(features, wanted)
        mask = features["attention_mask"]
        result = {}
        for k in wanted:
            emb = pool(cut_readout(self.transformer, states[k], k), mask, self.pooling_mode)
            result[k] = F.normalize(emb, p=2, dim=-1) if self.normalize else emb
        return result

    def embed_columns(self, columns: Sequence[dict[str, torch.Tensor]],
                      layers: Sequence[int] | None = None) -> list[dict[int, torch.Tensor]]:
        """``self(features, layers)`` per text column; while a BERT trains, ONE padding-free pass
        embeds all columns together (``workbench.fast.unpadded.embed_columns``, same math)."""
        return unpadded.embed_columns(self, columns, layers)

    def _hidden_states(self, features: dict[str, torch.Tensor], wanted: list[int]):
        """``{k: hidden_states[k]}`` for ``wanted``; training BERTs skip the padding work."""
        if (self.transformer.training and torch.is_grad_enabled()
                and unpadded.supports(self.transformer, features)):
            states, keep = unpadded.hidden_states(self.transformer, features, max(wanted))
            shape = tuple(features["attention_mask"].shape)
            return {k: unpadded.repad(states[k], keep, shape) for k in wanted}
        only_last = wanted == [self.num_layers]
        out = self.transformer(**features, output_hidden_states=not only_last, return_dict=True)
        return {self.num_layers: out.last_hidden_state} if only_last else out.hidden_states

    # ---- inference --------------------------------------------------------------------------
    def _length_sorted(self, texts: Sequence[str], batch_size: int) -> Iterator[list[int]]:
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), batch_size):
            yield order[start:start + batch_size]

    def _bf16_transformer(self) -> nn.Module:
        """A bfloat16 copy of the transformer, cached until any weight changes (storage, version
        or sum: ``bf16_inference.weights_key``, checked once per encode)."""
        key = bf16_inference.weights_key(self.transformer)
        cached = self.__dict__.get("_bf16_cache")
        if cached is None or cached[0] != key:
            model = bf16_inference.bf16_copy(self.transformer, fuse_bias=self.device.type == "cpu")
            object.__setattr__(self, "_bf16_cache", cached := (key, model))
        return cached[1]

    def _pooled(self, transformer: nn.Module, features: dict[str, torch.Tensor],
                layers: Sequence[int]) -> dict[int, torch.Tensor]:
        """``forward`` over a given transformer copy; pools and normalises in fp32."""
        features = {k: v.to(self.device) for k, v in features.items()}
        only_last = list(layers) == [self.num_layers]
        out = transformer(**features, output_hidden_states=not only_last, return_dict=True)
        mask = features["attention_mask"]
        result = {}
        for k in layers:
            hidden = out.last_hidden_state if only_last else out.hidden_states[k]
            hidden = cut_readout(transformer, hidden, k).float()
            emb = pool(hidden, mask, self.pooling_mode)
            result[k] = F.normalize(emb, p=2, dim=-1) if self.normalize else emb
        return result

    def _batches_fp32(self, texts: list[str], layers: list[int], batch_size: int,
                      show: bool) -> Iterator[tuple[list[int], dict[int, torch.Tensor]]]:
        """The reference path: char-length-sorted batches of ``batch_size``, fp32 weights."""
        for idx in tqdm(list(self._length_sorted(texts, batch_size)), desc="encode",
                        disable=not show, leave=False):
            yield idx, self(self.tokenize([texts[i] for i in idx]), layers=layers)

    def _batches_bf16(self, texts: list[str], layers: list[int], batch_size: int,
                      show: bool) -> Iterator[tuple[list[int], dict[int, torch.Tensor]]]:
        """bf16 weights (no autocast casts), one tokenizer call, token-budget batches."""
        model = self._bf16_transformer()
        batches = inference.token_rows(self.tokenizer, texts, self.max_seq_length, batch_size,
                                       self.device)
        for idx, features in tqdm(list(batches), desc="encode", disable=not show, leave=False):
            yield idx, self._pooled(model, features, layers)

    def _batches_fast(self, texts: list[str], layers: list[int], batch_size: int, show: bool,
                      precision: str) -> Iterator[tuple[list[int], dict[int, torch.Tensor]]]:
        """Padding-free (``fast.inference``): token-budget batches, blocks ``1..max(layers)``."""
        inference.new_pass()
        batches = inference.token_rows(self.tokenizer, texts, self.max_seq_length, batch_size,
                                       self.device, static=cuda_graphs.enabled(self.device))
        for idx, features in tqdm(list(batches), desc="encode", disable=not show, leave=False):
            out = inference.pooled(self.transformer, features, layers, self.pooling_mode, precision)
            out = {k: v[:len(idx)] for k, v in out.items()}  # filler rows of a static shape
            yield idx, {k: F.normalize(v, dim=-1) if self.normalize else v for k, v in out.items()}

    def _batches(self, precision: str) -> Callable[..., Iterator]:
        """The encode path: padding-free for a registered encoder, else Hugging Face's forward."""
        if inference.supported(self.transformer, self.tokenizer):
            return functools.partial(self._batches_fast, precision=precision)
        return self._batches_bf16 if precision == "bf16" else self._batches_fp32

    @torch.inference_mode()
    def encode_layers(self, texts: Sequence[str], layers: Sequence[int] | None = None,
                      batch_size: int = 64, precision: str = "fp32",
                      show_progress: bool | None = None) -> dict[int, torch.Tensor]:
        """Embeddings of every requested layer (default: all) in one pass, fp32 on CPU; a text
        that repeats is encoded once and its rows copied.

        A registered encoder (``workbench.fast.registry``) runs padding-free over batches packed
        to about ``batch_size`` x 32 tokens, only up to the deepest requested layer, in fp32 or
        bf16 (weights cast once and cached). Others run Hugging Face's forward: "fp32" in
        text batches of ``batch_size``, "bf16" on a cached bfloat16 copy of the weights.
        """
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision '{precision}'; choose one of {PRECISIONS}")
        layers = list(range(1, self.num_layers + 1)) if layers is None else list(layers)
        for k in layers:
            self.check_cell(layer=k)
        texts, rows = distinct_texts(texts)
        if not texts:
            return {k: torch.empty(0, self.hidden_size) for k in layers}
        chunks: dict[int, list[torch.Tensor]] = {k: [] for k in layers}
        order: list[int] = []
        was_training = self.training
        self.eval()
        show = len(texts) > 10 * batch_size if show_progress is None else show_progress
        run = self._batches(precision)
        try:
            for idx, out in run(texts, layers, batch_size, show):
                for k in layers:
                    chunks[k].append(out[k].float().cpu())
                order.extend(idx)
        finally:
            self.train(was_training)
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
        return {k: torch.cat(chunks[k])[inverse if rows is None else inverse[rows]]
                for k in layers}

    def encode(self, texts: Sequence[str], layer: int | None = None, dim: int | None = None,
               batch_size: int = 64, precision: str = "fp32",
               show_progress: bool | None = None) -> torch.Tensor:
        """Embeddings of one (layer, dim) cell; ``dim`` (default ``truncate_dim``) slices and
        re-normalises."""
        layer = layer or self.num_layers
        dim = dim or self.truncate_dim
        self.check_cell(layer, dim)
        emb = self.encode_layers(texts, [layer], batch_size, precision, show_progress)[layer]
        return truncate(emb, dim, self.normalize) if dim else emb
