"""Any (layer, dim, precision) cell as an ``mteb`` 2.x encoder, so ``mteb.evaluate`` runs on it.

``mteb_model(model, layer=, dim=, precision=)`` returns an object with the protocol's
``encode(inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs)``,
``similarity``, ``similarity_pairwise`` and ``mteb_model_meta``. Embeddings are the cell's
(layer k pooled, first d dims re-normalised); at int8 they are the int8 codes (ranges from
``calibration`` texts, else from the first text set encoded) compared by dot product, at binary
the 0/1 sign bits compared by minus the Hamming distance: the same scores as the cuts table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from workbench.evaluators import quantize as q


def _texts(inputs: Any) -> list[str]:
    """Texts of an mteb ``DataLoader[BatchedInput]`` (batches with a ``text`` list) or a list."""
    if isinstance(inputs, list | tuple) and (not inputs or isinstance(inputs[0], str)):
        return list(inputs)
    return [text for batch in inputs for text in batch["text"]]


class MtebCell:
    """The mteb encoder protocol over one cell of a ``BiEncoder`` (see :func:`mteb_model`)."""

    def __init__(self, model: Any, layer: int | None = None, dim: int | None = None,
                 precision: str = "fp32", calibration: Sequence[str] | None = None,
                 batch_size: int = 64, encode_precision: str = "fp32") -> None:
        self.model, self.layer = model, layer or model.num_layers
        self.dim = dim or model.hidden_size
        model.check_cell(self.layer, self.dim)
        self.precision = q.check_precision(precision)
        self.batch_size, self.encode_precision = batch_size, encode_precision
        self.ranges = (q.calibration_ranges(self._embed(list(calibration)))
                       if calibration and precision == "int8" else None)

    def _embed(self, texts: list[str]) -> torch.Tensor:
        return self.model.encode(texts, layer=self.layer, dim=self.dim, batch_size=self.batch_size,
                                 precision=self.encode_precision)

    def encode(self, inputs: Any, *, task_metadata: Any = None, hf_split: str | None = None,
               hf_subset: str | None = None, prompt_type: Any = None, **kwargs: Any) -> np.ndarray:
        """(N, dim) float32: fp32 vectors, int8 codes or 0/1 bits of the cell."""
        emb = self._embed(_texts(inputs))
        if self.precision == "fp32":
            return emb.numpy().astype(np.float32)
        if self.precision == "int8":
            if self.ranges is None:
                self.ranges = q.calibration_ranges(emb)
            return q.quantize(emb, "int8", self.ranges).astype(np.float32)
        return q.unpack_bits(q.quantize(emb, "binary"), self.dim)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> torch.Tensor:
        """(N1, N2) scores: cosine (fp32), code dot product (int8), minus Hamming (binary)."""
        a = torch.as_tensor(np.asarray(embeddings1), dtype=torch.float64)
        b = torch.as_tensor(np.asarray(embeddings2), dtype=torch.float64)
        a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
        if self.precision == "fp32":
            return torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T
        if self.precision == "int8":
            return a @ b.T
        return -(a.sum(1, keepdim=True) + b.sum(1) - 2 * a @ b.T)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> torch.Tensor:
        """(N,) scores of row i with row i."""
        a = torch.as_tensor(np.asarray(embeddings1), dtype=torch.float64)
        b = torch.as_tensor(np.asarray(embeddings2), dtype=torch.float64)
        if self.precision == "fp32":
            a, b = torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(b, dim=-1)
            return (a * b).sum(-1)
        if self.precision == "int8":
            return (a * b).sum(-1)
        return -(a - b).abs().sum(-1)

    @property
    def name(self) -> str:
        base = str(getattr(self.model, "base_model_name", None) or "model").rstrip("/").split("/")[-1]
        return f"workbench/{base}-L{self.layer}-d{self.dim}-{self.precision}"

    @property
    def mteb_model_meta(self) -> Any:
        """An mteb ``ModelMeta`` naming the cell (``workbench/<model>-L<k>-d<D>-<precision>``)."""
        from mteb.models import ModelMeta

        similarity = {"fp32": "cosine", "int8": "dot", "binary": "euclidean"}[self.precision]
        return ModelMeta.create_empty(overwrites={
            "name": self.name, "revision": "cell", "embed_dim": self.dim, "framework": ["PyTorch"],
            "similarity_fn_name": similarity, "max_tokens": self.model.max_seq_length,
            "modalities": ["text"], "open_weights": True})


def mteb_model(model: Any, layer: int | None = None, dim: int | None = None, precision: str = "fp32",
               **kwargs: Any) -> MtebCell:
    """Wrap a ``BiEncoder`` (or a spec ``BiEncoder.from_pretrained`` takes) cell for ``mteb``.

    Example:
        >>> import mteb
        >>> cell = workbench.mteb_model("minilm-l6", layer=4, dim=128, precision="int8")
        >>> mteb.evaluate(cell, mteb.get_tasks(tasks=["SciFact"]))
    """
    if isinstance(model, str):
        from workbench.models.bi_encoder import BiEncoder

        model = BiEncoder.from_pretrained(model)
    return MtebCell(model, layer, dim, precision, **kwargs)
