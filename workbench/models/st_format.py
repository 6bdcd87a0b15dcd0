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

TRANSFORMER = "sentence_transformers.models.Transformer"
POOLING = "sentence_transformers.models.Pooling"
NORMALIZE = "sentence_transformers.models.Normalize"
DENSE = "sentence_transformers.models.Dense"
_POOL_KEYS = {"mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token",
              "max": "pooling_mode_max_tokens"}


@dataclass
class BiEncoderLayout:
    """What the sentence-transformers files say about a bi-encoder folder.

    A plain Hugging Face folder or Hub id gets sentence-transformers' default stack:
    Transformer (no lower-casing, length = the tokenizer's ``model_max_length`` capped by
    ``max_position_embeddings``) + mean Pooling, and no Normalize.
    """

    pooling_mode: str = "mean"
    normalize: bool = False
    max_seq_length: int | None = None
    """``sentence_bert_config.json``'s value; None: the rule above (:func:`st_max_seq_length`)."""
    do_lower_case: bool = False
    truncate_dim: int | None = None
    modules: tuple[str, ...] = ("Transformer", "Pooling")


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
    """The module stack of a folder or Hub repo: its ``modules.json``, or ST's default stack."""
    modules_file = _local_or_hub_file(source, "modules.json")
    if modules_file is None:
        return BiEncoderLayout()
    modules = json.loads(modules_file.read_text())
    layout = BiEncoderLayout(modules=tuple(m["type"].rsplit(".", 1)[-1] for m in modules))
    for module in modules:
        kind, path = module["type"].rsplit(".", 1)[-1], module.get("path", "")
        if kind == "Pooling":
            cfg_file = _local_or_hub_file(source, f"{path}/config.json")
            layout.pooling_mode = _pooling_mode(json.loads(cfg_file.read_text()) if cfg_file else {})
        elif kind == "Normalize":
            layout.normalize = True
        elif kind == "Dense":
            layout.truncate_dim = _dense_truncate_dim(source, path)
        elif kind != "Transformer":
            raise ValueError(f"{source}: modules.json holds a {module['type']} module; the "
                             "workbench reads Transformer, Pooling, identity Dense and Normalize")
    sbert = _local_or_hub_file(source, "sentence_bert_config.json")
    cfg = json.loads(sbert.read_text()) if sbert else {}
    layout.max_seq_length = int(cfg["max_seq_length"]) if cfg.get("max_seq_length") else None
    layout.do_lower_case = bool(cfg.get("do_lower_case", False))
    return layout


def st_max_seq_length(layout: BiEncoderLayout, tokenizer, config) -> int:
    """sentence-transformers 6.2's length rule: the saved ``max_seq_length``, else the
    tokenizer's ``model_max_length`` capped by ``max_position_embeddings`` (unless -1)."""
    if layout.max_seq_length:
        return layout.max_seq_length
    length = int(tokenizer.model_max_length)
    positions = getattr(config, "max_position_embeddings", None)
    return min(length, int(positions)) if positions not in (None, -1) else length


def apply_lower_case(tokenizer) -> None:
    """Lower-case every input as sentence-transformers' ``do_lower_case`` does: a ``Lowercase``
    normaliser in front of a fast tokenizer's own (once), else the slow tokenizer's flag."""
    if not getattr(tokenizer, "is_fast", False):
        tokenizer.do_lower_case = True
        return
    from tokenizers.normalizers import Lowercase
    from tokenizers.normalizers import Sequence as NormalizerSequence

    backend = tokenizer.backend_tokenizer
    current = backend.normalizer
    parts = list(current) if isinstance(current, NormalizerSequence) else (
        [current] if current is not None else [])
    if not any(isinstance(n, Lowercase) for n in parts):
        backend.normalizer = NormalizerSequence([Lowercase(), *parts])


def _pooling_mode(cfg: dict) -> str:
    """The mode of a ``1_Pooling/config.json``: 6.x writes ``pooling_mode``, older versions flags."""
    mode = cfg.get("pooling_mode") or next((m for m, k in _POOL_KEYS.items() if cfg.get(k)), None)
    other = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v
             and k not in _POOL_KEYS.values()]
    if mode not in _POOL_KEYS or other:
        raise ValueError(f"unsupported pooling {mode or other}; the workbench pools "
                         f"{', '.join(_POOL_KEYS)}")
    return mode


def _dense_truncate_dim(source: str, path: str) -> int:
    """The D of an identity ``Dense`` (our truncation); other projections are not supported."""
    cfg_file = _local_or_hub_file(source, f"{path}/config.json")
    weights = _local_or_hub_file(source, f"{path}/model.safetensors")
    cfg = json.loads(cfg_file.read_text()) if cfg_file else {}
    identity = cfg.get("activation_function", "").endswith("Identity") and not cfg.get("bias")
    if identity and weights is not None:
        from safetensors.torch import load_file

        weight = load_file(str(weights))["linear.weight"]
        identity = torch.equal(weight, torch.eye(*weight.shape))
    if not identity:
        raise ValueError(f"{source}: the Dense module at '{path}' is a learned projection; only "
                         "the identity truncation that workbench exports write is supported")
    return int(cfg["out_features"])


def load_transformer(source: str, trust_remote_code: bool = False,
                     allow_pickle_weights: bool = False):
    """The Hugging Face model and tokenizer of a bi-encoder (see :mod:`workbench.models.weights`)."""
    from transformers import AutoModel, AutoTokenizer

    from workbench.models.weights import load_pretrained

    model = load_pretrained(AutoModel, source, allow_pickle_weights, trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    return model, tokenizer


BI_ENCODER_LAYOUT = "3.0.0"
"""The sentence-transformers version whose layout ``save_bi_encoder`` writes: modules.json +
``config_sentence_transformers.json`` with ``similarity_fn_name`` / ``truncate_dim`` (new in 3.0)."""
CROSS_ENCODER_LAYOUT = "6.0.0"
"""The layout ``save_cross_encoder`` writes: modules.json naming
``sentence_transformers.base.modules.transformer.Transformer`` (6.x) over a plain HF folder."""


def _versions(layout: str) -> dict[str, str]:
    """``__version__`` of the config: the layout's sentence-transformers version, not ours."""
    import transformers

    from workbench import __version__

    return {"sentence_transformers": layout, "transformers": transformers.__version__,
            "pytorch": torch.__version__, "workbench": __version__}


def save_bi_encoder(encoder, folder: str | Path, truncate_dim: int | None = None) -> Path:
    """Write ``encoder`` in the sentence-transformers layout.

    ``truncate_dim`` adds an identity ``Dense`` that keeps the first D dims (exact: x @ I[:D]^T)
    before ``Normalize``, so every sentence-transformers version gives the truncated embedding.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    encoder.transformer.save_pretrained(folder, safe_serialization=True)
    encoder.tokenizer.model_max_length = encoder.max_seq_length  # where 6.x reads the length
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
          {"max_seq_length": encoder.max_seq_length, "do_lower_case": encoder.do_lower_case})
    config = {"__version__": _versions(BI_ENCODER_LAYOUT), "prompts": {}, "default_prompt_name": None,
              "similarity_fn_name": "cosine"}
    if truncate_dim is not None:  # read by sentence-transformers >= 3; a no-op after the Dense
        config["truncate_dim"] = truncate_dim
    _dump(folder / "config_sentence_transformers.json", config)
    return folder


CE_TRANSFORMER = "sentence_transformers.base.modules.transformer.Transformer"
SIGMOID = "torch.nn.modules.activation.Sigmoid"


def save_cross_encoder(model, tokenizer, folder: str | Path, max_length: int) -> Path:
    """Write a one-label cross-encoder as sentence-transformers saves it.

    A plain Hugging Face folder (what versions 2.x to 5.x read) whose ``config.json`` carries
    ``sentence_transformers.activation_fn`` (4.x/5.x), plus ``modules.json``,
    ``sentence_bert_config.json`` and ``config_sentence_transformers.json`` as 6.x writes them.
    The tokenizer's ``model_max_length`` holds the truncation length. A head reading the mean of
    the tokens (``config.classifier_pooling == "mean"``) or comparing the two texts
    (``"segments"``) is written as 6.x's modular stack (:mod:`workbench.models.st_pooled_head`).
    """
    from workbench.models.st_pooled_head import head_layers, write_pooled_head, write_segment_head

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    versions = _versions(CROSS_ENCODER_LAYOUT)
    model.config.sentence_transformers = {"activation_fn": SIGMOID,
                                          "version": versions["sentence_transformers"]}
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(folder)
    pooling = getattr(model.config, "classifier_pooling", "cls")
    if pooling == "segments":
        _dump(folder / "modules.json", write_segment_head(model, folder))
    elif pooling == "mean" and head_layers(model):
        _dump(folder / "modules.json", write_pooled_head(model, folder))  # ST >= 6 reads the mean
    else:
        _dump(folder / "modules.json", [{"idx": 0, "name": "0", "path": "", "type": CE_TRANSFORMER}])
        _dump(folder / "sentence_bert_config.json",
              {"transformer_task": "sequence-classification",
               "modality_config": {"text": {"method": "forward", "method_output_name": "logits"}},
               "module_output_name": "scores"})
    _dump(folder / "config_sentence_transformers.json",
          {"model_type": "CrossEncoder", "__version__": versions, "activation_fn": SIGMOID,
           "prompts": {}, "default_prompt_name": None})
    return folder


def _read_json(path: Path) -> dict | list | None:
    return json.loads(path.read_text()) if path.exists() else None


def is_cross_encoder(source: str) -> bool:
    """A saved cross-encoder: sentence-transformers says ``CrossEncoder`` (6.x), or the Hugging
    Face config names a ``...ForSequenceClassification`` architecture (older saves)."""
    folder = Path(source)
    if not folder.is_dir():
        return False
    st_config = _read_json(folder / "config_sentence_transformers.json")
    if isinstance(st_config, dict) and st_config.get("model_type"):
        return st_config["model_type"] == "CrossEncoder"
    config = _read_json(folder / "config.json")
    architectures = config.get("architectures") or [] if isinstance(config, dict) else []
    return any(a.endswith("ForSequenceClassification") for a in architectures)


def saved_max_length(source: str) -> int | None:
    """``max_seq_length`` of ``sentence_bert_config.json`` (2.x-5.x) or the tokenizer's
    ``model_max_length`` (6.x), ignoring the huge sentinel of tokenizers without a limit."""
    for name, key in (("sentence_bert_config.json", "max_seq_length"),
                      ("tokenizer_config.json", "model_max_length")):
        file = _local_or_hub_file(source, name)
        value = json.loads(file.read_text()).get(key) if file else None
        if value and int(value) < 10**5:
            return int(value)
    return None


def read_max_length(source: str, config, tokenizer, default: int = 512) -> int:
    """Truncation length of a saved model (:func:`saved_max_length`, else the tokenizer's
    ``model_max_length``), capped by the position embeddings."""
    length = saved_max_length(source) or int(tokenizer.model_max_length)
    if length > 10**5:  # tokenizers without a limit report a huge sentinel
        length = default
    return min(length, getattr(config, "max_position_embeddings", None) or length)


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
