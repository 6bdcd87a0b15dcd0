"""Embedding precisions: fp32, int8 (calibrated scalar quantization) and binary (sign bits).

int8 (as sentence-transformers' ``quantize_embeddings(..., "int8", ranges=...)``): per dimension j,
``ranges = [min_j, max_j]`` over a calibration set, ``step_j = (max_j - min_j) / 255`` (1 where 0),
``code = clip(floor((x - min_j) / step_j), 0, 255) - 128`` as int8; dequantized
``(code + 128) * step_j + min_j``. Binary: bit j = [x_j > 0], packed 8 per byte (``"ubinary"``);
compared by Hamming distance. Bytes per vector: fp32 4 d, int8 d, binary ceil(d / 8).
(Shakir, Aarsen and Lee, "Binary and Scalar Embedding Quantization", Hugging Face blog 2024.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

PRECISIONS = ("fp32", "int8", "binary")


def _numpy(emb: Any) -> np.ndarray:
    return emb.detach().cpu().float().numpy() if isinstance(emb, torch.Tensor) else np.asarray(emb)


def check_precision(precision: str) -> str:
    """The precision itself, or a clear error naming the valid ones."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown embedding precision '{precision}'; choose from {', '.join(PRECISIONS)}")
    return precision


def bytes_per_vector(dim: int, precision: str) -> int:
    """Exact storage of one vector: 4 d (fp32), d (int8), ceil(d / 8) (binary)."""
    return {"fp32": 4 * dim, "int8": dim, "binary": (dim + 7) // 8}[check_precision(precision)]


def calibration_ranges(calibration: Any) -> np.ndarray:
    """(2, d) float32 per-dimension [min; max] of the calibration embeddings."""
    values = _numpy(calibration)
    if values.ndim != 2 or values.shape[0] < 2:
        raise ValueError(f"int8 calibration needs at least 2 embeddings (N, d); got shape {values.shape}")
    return np.vstack((values.min(axis=0), values.max(axis=0))).astype(np.float32)


def _steps(ranges: np.ndarray) -> np.ndarray:
    ranges = ranges.astype(np.float32, copy=False)
    steps = (ranges[1] - ranges[0]) / 255
    return np.where(steps == 0, 1, steps)


def quantize(emb: Any, precision: str, ranges: np.ndarray | None = None) -> np.ndarray:
    """fp32 -> float32 copy; int8 -> int8 codes (``ranges`` required); binary -> packed uint8 bits."""
    values = _numpy(emb)
    check_precision(precision)
    if precision == "fp32":
        return values.astype(np.float32)
    if precision == "binary":
        return np.packbits(values > 0, axis=-1)
    if ranges is None:
        raise ValueError("int8 quantization needs ranges: calibration_ranges(corpus or calibration set)")
    if ranges.shape != (2, values.shape[-1]):
        raise ValueError(f"int8 ranges have shape {ranges.shape}; need (2, {values.shape[-1]})")
    starts = ranges[0].astype(np.float32)
    codes = np.clip(np.floor((values - starts) / _steps(ranges)), 0, 255)
    return (codes - 128).astype(np.int8)


def dequantize_int8(codes: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """float64 values of int8 codes (the module formula; the reference's ``_dequantize_embeddings``)."""
    return (codes.astype(np.float64) + 128) * _steps(ranges) + ranges[0].astype(np.float32)


def unpack_bits(packed: np.ndarray, dim: int) -> np.ndarray:
    """0/1 float32 matrix (N, dim) of packed binary codes."""
    return np.unpackbits(packed, axis=-1)[..., :dim].astype(np.float32)
