"""Tiny random encoders of every architecture the seed cards name, built offline from configs.

For fast tests and smoke runs: a few layers of width 32 and a vocabulary of a few hundred
tokens, written to a folder that loads with ``from_pretrained`` (ours, Hugging Face's and
sentence-transformers'). WordPiece models (BERT, DistilBERT, MPNet, DeBERTa-v2, ModernBERT) get
special tokens + ASCII characters + a few words; RoBERTa and XLM-R get a byte-level BPE trained
on a few sentences with ``tokenizers``. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

_WORDS_TEXT = (
    "a the an is are was man woman child dog cat person people playing sitting running "
    "walking eating on in at with of and to outside inside park street table food ball "
    "guitar plane taking off air car red blue green two three young old girl boy her his "
    "hair riding horse water beach music dancing reading book"
)
DEFAULT_WORDS = _WORDS_TEXT.split()
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
MAX_LENGTH = 128
"""Tokenizer ``model_max_length`` of every tiny model (positions: 128, RoBERTa-style + 2)."""


def _wordpiece_vocab(specials: list[str], words: list[str] | None) -> list[str]:
    chars = [chr(c) for c in range(33, 127)]
    words = DEFAULT_WORDS if words is None else words
    return list(dict.fromkeys(specials + chars + ["##" + c for c in chars] + words))


def _bert_tokenizer(vocab: list[str], model_input_names: list[str] | None = None):
    from transformers import BertTokenizerFast

    kwargs = {"model_input_names": model_input_names} if model_input_names else {}
    return BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True,
                             model_max_length=MAX_LENGTH, **kwargs)


def _mpnet_tokenizer(vocab: list[str]):
    from transformers import MPNetTokenizerFast

    return MPNetTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True,
                              model_max_length=MAX_LENGTH)


def _bpe_tokenizer(words: list[str] | None, vocab_size: int = 300):
    """A byte-level BPE (RoBERTa's scheme) trained on the word list, with ``<s> ... </s>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import RobertaTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=ROBERTA_SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    words = DEFAULT_WORDS if words is None else words
    tok.train_from_iterator([" ".join(words[i:i + 8]) for i in range(0, len(words), 4)], trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return RobertaTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                sep_token="</s>", cls_token="<s>", unk_token="<unk>",
                                pad_token="<pad>", mask_token="<mask>", model_max_length=MAX_LENGTH)


def _config(arch: str, vocab_size: int, hidden: int, layers: int, heads: int, **extra):
    """The Hugging Face config of a tiny ``arch`` (pad id 0 for WordPiece, 1 for RoBERTa-style)."""
    from transformers import AutoConfig

    common = {"vocab_size": vocab_size, "hidden_size": hidden, "num_hidden_layers": layers,
              "num_attention_heads": heads, "intermediate_size": 2 * hidden,
              "max_position_embeddings": MAX_LENGTH, **extra}
    specific = {
        "bert": {},
        "roberta": {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
                    "max_position_embeddings": MAX_LENGTH + 2, "type_vocab_size": 1},
        "distilbert": {"dim": hidden, "n_layers": layers, "n_heads": heads,
                       "hidden_dim": common["intermediate_size"]},
        "deberta-v2": {"type_vocab_size": 0, "relative_attention": True, "position_buckets": 16,
                       "pos_att_type": ["p2c", "c2p"], "position_biased_input": False,
                       "norm_rel_ebd": "layer_norm", "share_att_key": True, "max_relative_positions": -1},
        "mpnet": {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
                  "max_position_embeddings": MAX_LENGTH + 2},
        "modernbert": {"pad_token_id": 0, "cls_token_id": 2, "sep_token_id": 3, "bos_token_id": 2,
                       "eos_token_id": 3, "global_attn_every_n_layers": 2, "local_attention": 16},
    }
    specific["xlm-roberta"] = specific["roberta"]
    return AutoConfig.for_model(arch, **{**common, **specific[arch], **extra})


def _tokenizer(arch: str, words: list[str] | None):
    if arch in ("roberta", "xlm-roberta"):
        return _bpe_tokenizer(words)
    if arch == "mpnet":
        return _mpnet_tokenizer(_wordpiece_vocab(ROBERTA_SPECIALS + ["[UNK]"], words))
    names = ["input_ids", "attention_mask"] if arch == "modernbert" else None
    return _bert_tokenizer(_wordpiece_vocab(BERT_SPECIALS, words), names)


ARCHITECTURES = ("bert", "roberta", "xlm-roberta", "distilbert", "deberta-v2", "mpnet",
                 "modernbert")
"""The ``model_type`` of every tiny model; :func:`available_architectures` drops the ones the
installed transformers lacks (ModernBERT needs transformers >= 4.48)."""


def available_architectures() -> list[str]:
    from transformers import CONFIG_MAPPING

    return [arch for arch in ARCHITECTURES if arch in CONFIG_MAPPING]


def tiny_model(folder: str | Path, arch: str = "bert", hidden_size: int = 32, num_layers: int = 3,
               heads: int = 4, seed: int = 0, vocab_words: list[str] | None = None,
               classifier: bool = False, **config) -> Path:
    """Write a tiny random ``arch`` encoder (``AutoModel``, or a one-logit
    ``AutoModelForSequenceClassification`` reranker when ``classifier``) and its tokenizer."""
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification

    if arch not in available_architectures():
        raise ValueError(f"unknown or unavailable architecture '{arch}'; choose one of "
                         f"{available_architectures()}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(arch, vocab_words)
    tokenizer.save_pretrained(folder)
    if classifier:  # spread random scores over (0, 1) instead of ~0.5
        config = {"num_labels": 1, "initializer_range": 0.2, **config}
    cfg = _config(arch, len(tokenizer), hidden_size, num_layers, heads, **config)
    torch.manual_seed(seed)
    auto = AutoModelForSequenceClassification if classifier else AutoModel
    auto.from_config(cfg).save_pretrained(folder, safe_serialization=True)
    return folder


def tiny_bert(folder: str | Path, hidden_size: int = 32, num_layers: int = 3, heads: int = 4,
              seed: int = 0, vocab_words: list[str] | None = None) -> Path:
    """A tiny random BERT with a small WordPiece vocabulary (see :func:`tiny_model`)."""
    return tiny_model(folder, "bert", hidden_size, num_layers, heads, seed, vocab_words)


def tiny_cross_encoder(folder: str | Path, seed: int = 0, arch: str = "bert", **kwargs) -> Path:
    """A tiny random one-logit reranker (``initializer_range=0.2``, so scores spread)."""
    return tiny_model(folder, arch, seed=seed, classifier=True, **kwargs)
