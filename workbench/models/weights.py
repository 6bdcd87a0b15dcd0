"""Where a model's weights come from: safetensors, or (only on request) a restricted pickle.

``pytorch_model.bin`` is a Python pickle; a full unpickler runs whatever code the file names.
The workbench reads safetensors only, unless the caller passes ``allow_pickle_weights=True``
(CLI ``--allow-pickle-weights``, notebook parameter ``allow_pickle_weights``); then the ``.bin``
is read through torch's restricted ``weights_only=True`` unpickler, which accepts tensors,
primitive types and containers and refuses every other global (never a full pickle).
"""

from __future__ import annotations

from pathlib import Path

from workbench.errors import ModelError
from workbench.models.specs import hub_error

PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
SWITCH = ("allow_pickle_weights=True (CLI: --allow-pickle-weights; notebooks: "
          "-p allow_pickle_weights true)")


class PickleWeightsRefused(ModelError):
    """The model ships only pickled weights and the caller did not allow them."""


def _has_safetensors(source: str) -> bool | None:
    """True/False for a local folder or a Hub repo whose files can be listed; None if unknown."""
    local = Path(source)
    if local.is_dir():
        return any(local.glob("*.safetensors")) or (local / "model.safetensors.index.json").exists()
    try:
        from huggingface_hub import list_repo_files

        return any(f.endswith(".safetensors") for f in list_repo_files(source))
    except Exception:
        return None


def pickle_file(source: str) -> str | None:
    """The pickled weights file a folder or Hub repo holds (None when it holds none)."""
    local = Path(source)
    for name in PICKLE_FILES:
        if local.is_dir():
            if (local / name).exists():
                return str(local / name)
            continue
        try:
            from huggingface_hub import file_exists

            if file_exists(source, name):
                return f"{source}/{name}"
        except Exception:
            return None
    return None


def refuse_pickle(source: str, file: str) -> PickleWeightsRefused:
    return PickleWeightsRefused(
        f"{source}: its weights come only as {file}, a pickle, and the workbench reads "
        f"safetensors unless told otherwise. To load it through torch's restricted "
        f"weights_only unpickler (tensors only, never arbitrary code), pass {SWITCH}; or "
        f"convert it once to model.safetensors.")


def load_pretrained(auto_class, source: str, allow_pickle_weights: bool = False,
                    trust_remote_code: bool = False, **kwargs):
    """``auto_class.from_pretrained(source)`` from safetensors, or from a pickle if allowed.

    Raises :class:`PickleWeightsRefused` (naming the file and the switch) when only
    ``pytorch_model.bin`` exists and ``allow_pickle_weights`` is False.
    """
    if not allow_pickle_weights and _has_safetensors(source) is False:
        file = pickle_file(source)
        if file is not None:
            raise refuse_pickle(source, file)
    try:  # None: safetensors when present, else the .bin through weights_only=True
        return auto_class.from_pretrained(
            source, trust_remote_code=trust_remote_code, weights_only=True,
            use_safetensors=None if allow_pickle_weights else True, **kwargs)
    except OSError as err:
        file = None if allow_pickle_weights else pickle_file(source)
        if file is not None:
            raise refuse_pickle(source, file) from err
        raise hub_error(source, err) from err
