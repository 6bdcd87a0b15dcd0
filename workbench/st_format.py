"""The sentence-transformers folder layout, read and written without sentence-transformers.

A bi-encoder folder holds the Hugging Face model at its root plus ``modules.json``
(Transformer -> Pooling [-> Dense] [-> Normalize]), ``sentence_bert_config.json``,
``config_sentence_transformers.json`` and ``1_Pooling/config.json``. Versions 2.x to 6.2 read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from workbench.models import hub_error

TRANSFORMER = "sentence_transformers.models.Transformer"
POOLING = "sentence_transformers.models.Pooling"
NORMALIZE = "sentence_transformers.models.Normalize"
DENSE = "sentence_transformers.models.Dense"
_POOL_KEYS = {"mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token",
              "max": "pooling_mode_max_tokens"}


@dataclass
class BiEncoderLayout:
    """What the sentence-transformers files say about a bi-encoder folder."""

    pooling_mode: str = "mean"
    normalize: bool = True
    max_seq_length: int = 256
    truncate_dim: int | None = None
    is_st: bool = False


def _read_json(path: Path) -> dict | list | None:
    return json.loads(path.read_text()) if path.exists() else None


def _local_or_hub_file(source: str, name: str) -> Path | None:
    """A file of a local folder, or of a Hub repo (None when absent or offline)."""
    local = Path(source)
    if local.is_dir():
        return local / name if (local / name).exists() else None
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(source, name))
    except Exception:
        return None


def read_bi_encoder_layout(source: str) -> BiEncoderLayout:
    """Pooling, normalisation and length from a folder or Hub repo (defaults for plain HF)."""
    modules_file = _local_or_hub_file(source, "modules.json")
    if modules_file is None:
        return BiEncoderLayout()
    modules = json.loads(modules_file.read_text())
    layout = BiEncoderLayout(normalize=False, is_st=True)
    for module in modules:
        kind, path = module["type"], module.get("path", "")
        if kind.endswith("Pooling"):
            cfg_file = _local_or_hub_file(source, f"{path}/config.json")
            cfg = json.loads(cfg_file.read_text()) if cfg_file else {}
            layout.pooling_mode = next((m for m, k in _POOL_KEYS.items() if cfg.get(k)), "mean")
        elif kind.endswith("Normalize"):
            layout.normalize = True
        elif kind.endswith("Dense"):
            cfg_file = _local_or_hub_file(source, f"{path}/config.json")
            layout.truncate_dim = json.loads(cfg_file.read_text())["out_features"] if cfg_file else None
    sbert = _local_or_hub_file(source, "sentence_bert_config.json")
    if sbert is not None:
        layout.max_seq_length = int(json.loads(sbert.read_text()).get("max_seq_length") or 256)
    return layout


def load_transformer(source: str, layout: BiEncoderLayout, trust_remote_code: bool = False):
    """Load the Hugging Face model (safetensors only) and tokenizer of a bi-encoder."""
    from transformers import AutoModel, AutoTokenizer

    try:
        model = AutoModel.from_pretrained(source, trust_remote_code=trust_remote_code,
                                          use_safetensors=True)
    except OSError as err:
        raise hub_error(source, err) from err
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    return model, tokenizer


def _versions() -> dict[str, str]:
    import transformers

    from workbench import __version__

    return {"sentence_transformers": "3.0.0", "transformers": transformers.__version__,
            "pytorch": torch.__version__, "workbench": __version__}


def save_bi_encoder(encoder, folder: str | Path, truncate_dim: int | None = None) -> Path:
    """Write ``encoder`` in the sentence-transformers layout.

    ``truncate_dim`` adds an identity ``Dense`` that keeps the first D dims (exact: x @ I[:D]^T)
    before ``Normalize``, so every sentence-transformers version gives the truncated embedding.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    encoder.transformer.save_pretrained(folder, safe_serialization=True)
    encoder.tokenizer.save_pretrained(folder)
    modules = [{"idx": 0, "name": "0", "path": "", "type": TRANSFORMER}]
    _write_pooling(folder / "1_Pooling", encoder.hidden_size, encoder.pooling_mode)
    modules.append({"idx": 1, "name": "1", "path": "1_Pooling", "type": POOLING})
    if truncate_dim is not None:
        _write_identity_dense(folder / "2_Dense", encoder.hidden_size, truncate_dim)
        modules.append({"idx": 2, "name": "2", "path": "2_Dense", "type": DENSE})
    if encoder.normalize:
        n = len(modules)
        (folder / f"{n}_Normalize").mkdir(exist_ok=True)
        modules.append({"idx": n, "name": str(n), "path": f"{n}_Normalize", "type": NORMALIZE})
    _dump(folder / "modules.json", modules)
    _dump(folder / "sentence_bert_config.json",
          {"max_seq_length": encoder.max_seq_length, "do_lower_case": False})
    _dump(folder / "config_sentence_transformers.json",
          {"__version__": _versions(), "prompts": {}, "default_prompt_name": None,
           "similarity_fn_name": "cosine"})
    return folder


def _write_pooling(folder: Path, dim: int, mode: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {"word_embedding_dimension": dim, "pooling_mode_cls_token": mode == "cls",
           "pooling_mode_mean_tokens": mode == "mean", "pooling_mode_max_tokens": mode == "max",
           "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
           "pooling_mode_lasttoken": False, "include_prompt": True}
    _dump(folder / "config.json", cfg)


def _write_identity_dense(folder: Path, in_features: int, out_features: int) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    _dump(folder / "config.json", {"in_features": in_features, "out_features": out_features,
                                   "bias": False,
                                   "activation_function": "torch.nn.modules.linear.Identity"})
    weight = torch.eye(out_features, in_features)
    save_file({"linear.weight": weight}, str(folder / "model.safetensors"))


def _dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")
