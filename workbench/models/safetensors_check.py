"""Safetensors files of a local model folder, checked before loading so a bad file is named.

A safetensors file is an 8-byte little-endian header length n, an n-byte JSON header giving each
tensor's ``data_offsets``, then the data: a file shorter or longer than ``8 + n + max(end
offset)`` is truncated or garbled.
"""

from __future__ import annotations

import json
from pathlib import Path

from workbench.errors import WorkbenchError

PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")


class WeightsError(WorkbenchError, OSError):
    """A model folder whose weights are missing or unreadable (truncated, garbled)."""


def check_safetensors(path: Path) -> None:
    """Raise :class:`WeightsError` naming ``path`` when it is not a complete safetensors file."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if n < 0 or n > size - 8:
            raise WeightsError(f"{path} is truncated or not a safetensors file ({size} bytes; "
                               f"header length {n}); re-save or re-download it")
        try:
            header = json.loads(fh.read(n))
            end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"),
                      default=0)
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise WeightsError(f"{path} has a garbled header ({type(err).__name__}); re-save or "
                               "re-download it") from None
    if 8 + n + end != size:
        raise WeightsError(f"{path} holds {size} bytes but its header describes {8 + n + end}: "
                           "truncated or garbled; re-save or re-download it")


def check_weights(folder: Path) -> None:
    """Every ``*.safetensors`` file of a local model folder is complete; a folder with no weight
    file at all is named. (Pickle-only folders are the loader's to refuse or allow.)"""
    found = sorted(folder.glob("*.safetensors"))
    if not found and not any((folder / name).exists() for name in PICKLE_WEIGHTS):
        raise WeightsError(f"model folder {folder} has no weights (no model.safetensors)")
    for file in found:
        check_safetensors(file)
