"""Encoders own their precision: autocast contexts, and the mixed precision a training forward
runs in (chosen inside the encoder's ``forward`` from its own setting).

Mixed precision as the Hugging Face Trainer applies it: autocast around the encoder's forward
only, outputs cast back to fp32, so the loss math (cosine scores, softmaxes, KL) runs in fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

PRECISIONS = ("fp32", "bf16")
"""Inference precisions of ``encode`` / ``predict``."""
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
"""Training precisions besides fp32 (fp16 needs a CUDA GPU)."""


def precision_context(precision: str, device: torch.device | str = "cpu"):
    """Autocast context for ``precision`` ("fp32" = no autocast, "bf16" = bfloat16 autocast)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}'; choose one of {PRECISIONS}")
    return autocast(precision, device)


def autocast(precision: str, device: torch.device | str = "cpu"):
    """``torch.autocast`` for "bf16" / "fp16" on ``device``'s type; "fp32": no autocast."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision not in AUTOCAST_DTYPES:
        raise ValueError(f"unknown precision '{precision}'; choose fp32 or one of "
                         f"{', '.join(AUTOCAST_DTYPES)}")
    return torch.autocast(device_type=torch.device(device).type, dtype=AUTOCAST_DTYPES[precision])


def _to_fp32(out: Any) -> Any:
    if isinstance(out, dict):
        return {k: v.float() for k, v in out.items()}
    return out.float() if isinstance(out, torch.Tensor) else out


class MixedPrecision:
    """Mixin of the encoders: ``forward`` runs under ``forward_precision`` ("fp32" by default).

    ``with encoder.mixed_precision("bf16"):`` sets it for a block (the training step and the
    validation loss use it); the encoder's forward reads it and casts its outputs to fp32.
    """

    forward_precision: str = "fp32"

    @contextlib.contextmanager
    def mixed_precision(self, precision: str) -> Iterator[None]:
        autocast(precision)  # refuse an unknown precision before changing anything
        before = self.forward_precision
        self.forward_precision = precision
        try:
            yield
        finally:
            self.forward_precision = before

    def _in_precision(self, forward: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.forward_precision == "fp32":
            return forward(*args, **kwargs)
        with autocast(self.forward_precision, self.device):
            out = forward(*args, **kwargs)
        return _to_fp32(out)
