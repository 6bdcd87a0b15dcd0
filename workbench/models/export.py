"""Export one (layer, dim) cell as a standalone model: the first K layers and the first D dims.

The transformer keeps only its first K layers (``num_hidden_layers`` = K, later layers' weights
dropped, so nothing reloads randomly); an identity ``Dense`` keeps the first D dimensions before
``Normalize`` (exact in every sentence-transformers version; ``truncate_dim`` is also written to
``config_sentence_transformers.json``). The cut model's output equals the full model's layer K
as the workbench reads it (``bi_encoder.cut_readout``: ModernBERT's final norm applied to it).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import FolderError, ParameterError
from workbench.models import st_format
from workbench.models.bi_encoder import BiEncoder
from workbench.models.cross_encoder import CrossEncoder
from workbench.models.layers import layer_list
from workbench.models.specs import resolve_model


@dataclass
class ExportResult:
    """What an export wrote and what it measured."""

    path: Path
    layers: int
    dim: int
    size_bytes: int
    full_params: int
    cut_params: int
    full_seconds: float
    cut_seconds: float

    @property
    def speedup(self) -> float:
        return self.full_seconds / self.cut_seconds if self.cut_seconds > 0 else float("nan")

    def summary(self) -> str:
        return (f"exported layers={self.layers} dim={self.dim} to {self.path}\n"
                f"size on disk: {self.size_bytes / 2**20:.1f} MiB; parameters "
                f"{self.cut_params:,} of {self.full_params:,} "
                f"({self.cut_params / self.full_params:.0%})\n"
                f"encode time: full {self.full_seconds:.3f}s, cut {self.cut_seconds:.3f}s "
                f"-> speed-up x{self.speedup:.2f}")


def load_for_export(model: str | Path | BiEncoder | CrossEncoder) -> BiEncoder | CrossEncoder:
    """A loaded model as is; a saved cross-encoder as ``CrossEncoder``, anything else ``BiEncoder``."""
    if isinstance(model, (BiEncoder, CrossEncoder)):
        return model
    if st_format.is_cross_encoder(resolve_model(model)):
        return CrossEncoder.from_pretrained(model)
    return BiEncoder.from_pretrained(model)


def cut_encoder(encoder: BiEncoder, layers: int, dim: int | None = None) -> BiEncoder:
    """A copy of ``encoder`` with only its first ``layers`` layers and output ``dim`` dims."""
    encoder.check_cell(layers, dim)
    transformer = copy.deepcopy(encoder.transformer)
    stack = layer_list(transformer)
    del stack[layers:]
    transformer.config.num_hidden_layers = layers
    if getattr(transformer.config, "layer_types", None):  # ModernBERT: one entry per layer
        transformer.config.layer_types = list(transformer.config.layer_types[:layers])
    cut = BiEncoder(transformer, encoder.tokenizer, encoder.pooling_mode, encoder.normalize,
                    encoder.max_seq_length)
    cut.base_model_name = encoder.base_model_name
    cut.do_lower_case = encoder.do_lower_case
    cut.truncate_dim = dim if dim is not None and dim < encoder.hidden_size else None
    return cut


def cut_reranker(ce: CrossEncoder, layers: int) -> CrossEncoder:
    """A copy of the reranker ``ce`` with only its first ``layers`` blocks (same shared head)."""
    if not 1 <= layers <= ce.num_layers:
        raise ValueError(f"layers={layers} is not available: the reranker has layers 1..{ce.num_layers}")
    model = copy.deepcopy(ce.model)
    del layer_list(model.base_model)[layers:]
    model.config.num_hidden_layers = layers
    cut = CrossEncoder(model, ce.tokenizer, ce.max_length)
    cut.base_model_name = ce.base_model_name
    return cut


def folder_size(folder: str | Path) -> int:
    """Bytes of all files under ``folder``."""
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())


def measure_encode(encoders: Sequence[BiEncoder | CrossEncoder], texts: Sequence[str],
                   batch_size: int = 32, repeats: int = 3) -> list[float]:
    """Best-of-``repeats`` seconds to encode ``texts`` (a cross-encoder: to score each text
    paired with the next) for each model, runs interleaved so a busy machine slows all alike."""
    pairs = list(zip(texts, [*texts[1:], texts[0]], strict=True))

    def run(model: BiEncoder | CrossEncoder, n: int) -> None:
        if isinstance(model, CrossEncoder):
            model.predict(pairs[:n], batch_size=batch_size, show_progress=False)
        else:
            model.encode(texts[:n], batch_size=batch_size, show_progress=False)

    for model in encoders:  # warm-up
        run(model, batch_size)
    best = [float("inf")] * len(encoders)
    for _ in range(repeats):
        for i, model in enumerate(encoders):
            start = time.perf_counter()
            run(model, len(texts))
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def sample_texts(n: int = 256) -> list[str]:
    """Texts for timing: STSB test sentences when the data is found, else a built-in sample."""
    from workbench.data.datasets import DataNotFoundError, load_dataset

    try:
        return list(load_dataset("stsb", "test", max_samples=n)["sentence1"])
    except DataNotFoundError:
        words = ["a", "man", "woman", "child", "is", "playing", "riding", "a", "horse", "in",
                 "the", "park", "with", "guitar", "and", "ball"]
        return [" ".join(words[(i + j) % len(words)] for j in range(8 + i % 12)) for i in range(n)]


def check_export_out(out: str | Path, source: str | Path | None) -> Path:
    """``out`` is a new or empty folder, neither the source model folder nor inside/around it."""
    out = Path(out).expanduser().resolve()
    if source is not None and Path(source).expanduser().is_dir():
        src = Path(source).expanduser().resolve()
        if out == src or src in out.parents or out in src.parents:
            raise FolderError(f"--out {out} overlaps the source model {src}; an export never "
                              "writes into its source: give a new folder")
    if out.is_file():
        raise FolderError(f"--out {out} is an existing file; give a new folder")
    if out.is_dir() and any(out.iterdir()):
        raise FolderError(f"--out {out} is not empty; an export never overwrites: give a new folder")
    return out


def export_cut(model: str | Path | BiEncoder, layers: int, dim: int | None, out: str | Path,
               texts: Sequence[str] | None = None, batch_size: int = 32,
               repeats: int = 3) -> ExportResult:
    """Write the (layers, dim) cell of ``model`` to ``out``; measure its encode speed-up.

    Speed-up = best-of-``repeats`` fp32 encode time of the full model / of the cut model.
    Refused before anything is written: an ``out`` over the source or a non-empty ``out``, a cell
    the model lacks, ``batch_size`` or ``repeats`` below 1. A cross-encoder (a ``CrossEncoder``
    or a saved one) is cut to ``layers`` blocks, ``dim`` must be None (or its hidden size); the
    cut loads in ``sentence_transformers.CrossEncoder`` with the scores of
    ``ce.predict(pairs, layer=layers)``.
    """
    check_export_out(out, None if isinstance(model, BiEncoder | CrossEncoder) else model)
    for name, value in (("batch_size", batch_size), ("repeats", repeats)):
        if value < 1:
            raise ParameterError(f"{name}={value!r} is not allowed: an integer >= 1")
    encoder = load_for_export(model)
    if isinstance(encoder, CrossEncoder):
        if dim not in (None, encoder.hidden_size):
            raise ParameterError(f"a cross-encoder has no embedding to truncate: drop --dim (got {dim})")
        cut = cut_reranker(encoder, layers)
    else:
        cut = cut_encoder(encoder, layers, dim)
    path = cut.save(out)
    texts = list(texts) if texts is not None else sample_texts()
    full_s, cut_s = measure_encode([encoder, cut], texts, batch_size, repeats)
    return ExportResult(
        path=Path(path), layers=layers, dim=dim or encoder.hidden_size,
        size_bytes=folder_size(path), full_params=sum(p.numel() for p in encoder.parameters()),
        cut_params=sum(p.numel() for p in cut.parameters()), full_seconds=full_s,
        cut_seconds=cut_s)
