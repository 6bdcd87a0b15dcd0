"""Which Hugging Face encoders have a padding-free fast path: a registry keyed on model classes.

An :class:`Architecture` tells the padding-free forward (:mod:`workbench.fast.unpadded`, training;
:mod:`workbench.fast.inference`, encoding) how to read one encoder family: its embeddings on the
real tokens, its block list, each block as a post-LayerNorm transformer block
(:class:`BlockWeights`), and an optional additive attention bias (MPNet's relative positions).
A :class:`Classifier` does the same for a sequence-classification head (the cross-encoder).

Lookups go by the model's exact class (``type(model)``), never by a class-name string: a
subclass may change ``forward``, so it must be registered on its own. Anything else (DeBERTa-v2,
ModernBERT, a model with relative-key positions, gradient checkpointing on, ...) falls back to
Hugging Face's padded forward, and :func:`lookup` says so once per class and reason in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

log = logging.getLogger("workbench.fast")

Linear = tuple[Tensor, Tensor | None]
"""``(weight, bias)`` of a linear map, as ``F.linear`` takes them."""


@dataclass
class BlockWeights:
    """One post-LN transformer block (BERT's layout): what the padding-free forward computes.

    ``x1 = norm1(x + drop(out(attention(qkv(x)))))``; ``x2 = norm2(x1 + drop(down(act(up(x1)))))``.
    ``qkv`` stacks the query, key and value maps (one GEMM); ``dropout`` holds the probabilities
    (attention probabilities, after ``out``, after ``down``) that apply now (0 in eval mode).
    """

    qkv: Linear
    out: Linear
    norm1: tuple[Tensor, Tensor, float]
    up: Linear
    act: Callable[[Tensor], Tensor]
    down: Linear
    norm2: tuple[Tensor, Tensor, float]
    heads: int
    scaling: float
    dropout: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Architecture:
    """How to run one encoder family padding-free.

    Args:
        name: for messages.
        embed: ``(model, features, keep) -> (tokens, hidden)``: the embedding output (after
            LayerNorm and dropout) of the real tokens ``keep`` (flat indices into the padded batch).
        blocks: ``model -> nn.ModuleList``: the transformer blocks, in order (a cut model's too).
        weights: ``block -> BlockWeights`` over the live parameters (autograd flows through them).
        bias: ``(model, longest) -> (1, heads, longest, longest)`` additive attention scores
            for a bucket padded to ``longest`` (``None``: no bias).
        unsupported: ``model -> reason or None``: a configuration this path does not reproduce.
    """

    name: str
    embed: Callable[[nn.Module, dict[str, Tensor], Tensor], Tensor]
    blocks: Callable[[nn.Module], nn.ModuleList]
    weights: Callable[[nn.Module], BlockWeights]
    bias: Callable[[nn.Module, int], Tensor] | None = None
    unsupported: Callable[[nn.Module], str | None] = lambda model: None


@dataclass(frozen=True)
class Classifier:
    """A sequence-classification model: its encoder and its head on the first token's state.

    ``base(model)`` is the encoder (a registered :class:`Architecture`); ``head(model, first)``
    maps the ``(batch, hidden)`` states of each sequence's first token to the logits, as the
    model's own head does on ``hidden[:, 0]``.
    """

    base: Callable[[nn.Module], nn.Module]
    head: Callable[[nn.Module, Tensor], Tensor]


ARCHITECTURES: dict[type, Architecture] = {}
CLASSIFIERS: dict[type, Classifier] = {}
_said: set[tuple[str, str]] = set()
_readable: dict[type, str | None] = {}


def register(model_class: type, architecture: Architecture) -> None:
    """Give ``model_class`` (exactly this class) the padding-free fast path ``architecture``."""
    ARCHITECTURES[model_class] = architecture


def register_classifier(model_class: type, classifier: Classifier) -> None:
    CLASSIFIERS[model_class] = classifier


def fallback(model: nn.Module, reason: str) -> None:
    """Log once per (class, reason) that ``model`` runs Hugging Face's padded forward."""
    key = (type(model).__qualname__, reason)
    if key not in _said:
        _said.add(key)
        log.warning("no padding-free fast path for %s (%s): using Hugging Face's padded forward "
                    "(correct, slower)", type(model).__name__, reason)


def missing_parts(arch: Architecture, model: nn.Module) -> str | None:
    """Why ``arch`` cannot read ``model``'s blocks in the installed transformers (an attribute
    its ``weights`` reads is absent, e.g. ``scaling`` before the 4.48 attention refactor), or
    ``None``; checked once per block class."""
    blocks = arch.blocks(model)
    if len(blocks) == 0:
        return None
    kind = type(blocks[0])
    if kind not in _readable:
        try:
            arch.weights(blocks[0])
            _readable[kind] = None
        except AttributeError as err:
            _readable[kind] = f"{kind.__name__} lacks a part the fast path reads ({err})"
    return _readable[kind]


def lookup(model: nn.Module, quiet: bool = False) -> Architecture | None:
    """The fast path for ``model``'s class, or ``None`` (logged once unless ``quiet``)."""
    arch = ARCHITECTURES.get(type(model))
    reason = ("no fast path is registered for this class" if arch is None
              else arch.unsupported(model) or missing_parts(arch, model))
    if getattr(model, "gradient_checkpointing", False) or getattr(
            getattr(model, "encoder", None), "gradient_checkpointing", False):
        reason = "gradient checkpointing is on"
    if reason is not None:
        if not quiet and isinstance(model, nn.Module):
            fallback(model, reason)
        return None
    return arch


def lookup_classifier(model: nn.Module, quiet: bool = False) -> tuple[Classifier, Architecture] | None:
    """The classifier and its encoder's fast path, or ``None`` (logged once unless ``quiet``)."""
    classifier = CLASSIFIERS.get(type(model))
    if classifier is None:
        if not quiet:
            fallback(model, "no fast path is registered for this classification head")
        return None
    arch = lookup(classifier.base(model), quiet)
    return None if arch is None else (classifier, arch)
