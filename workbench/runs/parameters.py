"""Notebook parameters checked when a run starts, before any data or model is loaded.

The defaults live in each notebook's ``parameters`` cell (read by papermill); the training
hyperparameters' rules live in :class:`workbench.training.config.TrainConfig`; the rules of the
experiment-specific parameters are the table :data:`RULES` below. :func:`check_parameters`
applies all of them (types from the declarations, ranges, then rules across parameters and the
model's depth and width) and raises one :class:`ParameterError` naming the parameter, the value
and what is allowed. ``workbench run`` calls it before papermill starts; every experiment
notebook calls it again right after its parameters cell, for interactive use.
"""

from __future__ import annotations

import ast
import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from workbench.errors import ParameterError

TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,),
                                      "bool": (bool,), "list": (list,)}
TYPE_WORDS = {"int": "an integer", "float": "a number", "str": "a text", "bool": "true or false",
              "list": "a list such as [64, 32]"}


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a parameter allows: ``ok(value)`` and the words that say it."""

    ok: Callable[[Any], bool]
    allowed: str


def choice(*values: str) -> Rule:
    return Rule(lambda v: v in values, "one of " + ", ".join(repr(v) for v in values))


def at_least(low: float, all_value: int | None = None) -> Rule:
    """``>= low``; ``all_value`` (e.g. -1) is also allowed and means "all"."""
    extra = f" (or {all_value} for all)" if all_value is not None else ""
    return Rule(lambda v: v >= low or v == all_value, f">= {low}{extra}")


def _descending_unique(v: list) -> bool:
    return all(a > b for a, b in zip(v, v[1:], strict=False))


def _positive_ints(v: list) -> bool:
    return all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v)


POSITIVE = Rule(lambda v: v > 0, "> 0")
NON_NEGATIVE = Rule(lambda v: v >= 0, ">= 0")
ALL_OR_MORE = at_least(1, all_value=-1)


def count_or_all(value: int | None) -> int | None:
    """A row-count parameter where -1 (or None) means all rows (``ALL_OR_MORE``): the count, or
    ``None`` as ``load_dataset(max_samples=)`` and the task loaders take it."""
    return None if value is None or value < 0 else value


DIMS = Rule(lambda v: bool(v) and _positive_ints(v) and _descending_unique(v),
            "a non-empty list of positive integers, largest first, no duplicates (e.g. [32, 16, 8])")
GRID_DIMS = Rule(lambda v: _positive_ints(v) and len(set(v)) == len(v),
                 "a list of positive integers without duplicates ([] for the default)")
LAYER_DIMS = Rule(lambda v: all(isinstance(p, list | tuple) and len(p) == 2 and _positive_ints(p[1:])
                                and isinstance(p[0], int) and p[0] >= 0 for p in v),
                  "a list of [layer, dim] pairs ([] for the default schedule)")
RULES: dict[str, Rule] = {
    "variant": choice("2d", "starbucks", "plain", "adaptive"), "train_data": choice("allnli", "snli"),
    "distill": choice("kl", "mse"), "sampling": choice("top", "random"), "cells": LAYER_DIMS,
    "snli_keep": choice("entailment", "all"), "matryoshka_dims": DIMS, "grid_dims": GRID_DIMS,
    "starbucks_layer_dims": LAYER_DIMS, "n_layers_per_step": ALL_OR_MORE,
    "n_dims_per_step": ALL_OR_MORE, "max_train_samples": ALL_OR_MORE,
    "max_eval_samples": ALL_OR_MORE, "last_layer_weight": NON_NEGATIVE,
    "prior_layers_weight": NON_NEGATIVE, "kl_div_weight": NON_NEGATIVE, "pos_weight": NON_NEGATIVE,
    "kl_temperature": POSITIVE, "cosent_scale": POSITIVE, "mnrl_scale": POSITIVE,
    "model": Rule(lambda v: bool(v.strip()), "a model folder, Hub id or alias"),
}
"""Rules of the experiment parameters that are not TrainConfig fields (those: TrainConfig)."""


def refuse(name: str, value: Any, allowed: str) -> ParameterError:
    return ParameterError(f"parameter {name}={value!r} is not allowed: {allowed}")


def defaults(declared: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The declared defaults as values (papermill gives their source text)."""
    return {name: ast.literal_eval(spec["default"]) for name, spec in declared.items()}


def check_type(name: str, value: Any, type_name: str) -> None:
    """``value`` has the declared type (an int where int, a finite number where float, ...)."""
    kinds = TYPES.get(type_name)
    if kinds is None:
        return
    if not isinstance(value, kinds) or (isinstance(value, bool) and type_name != "bool"):
        raise refuse(name, value, TYPE_WORDS[type_name])
    if type_name == "float" and not math.isfinite(value):
        raise refuse(name, value, "a finite number")


def check_values(values: Mapping[str, Any], declared: Mapping[str, Mapping[str, Any]]) -> None:
    """Types from the declarations, then :data:`RULES`, then the TrainConfig fields' rules."""
    for name, value in values.items():
        if name in declared:
            check_type(name, value, declared[name]["inferred_type_name"])
    for name, rule in RULES.items():
        if name in values and not rule.ok(values[name]):
            raise refuse(name, values[name], rule.allowed)
    from workbench.training.config import TrainConfig, check_device

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    check_device(TrainConfig(**{k: v for k, v in values.items() if k in fields}))


def check_against_data(values: Mapping[str, Any]) -> None:
    """Rules across parameters: the training batch fits in the training rows asked for."""
    batch, rows = values.get("per_device_train_batch_size"), values.get("max_train_samples", -1)
    if batch is not None and rows is not None and 0 < rows < batch:
        raise refuse("per_device_train_batch_size", batch,
                     f"at most the training rows (max_train_samples={rows})")


def check_against_model(values: Mapping[str, Any], shape: tuple[int, int] | None) -> None:
    """Dimensions and layers the parameters ask for exist in a model of ``(layers, width)``."""
    if shape is None:
        return
    depth, width = shape
    for name in ("matryoshka_dims", "grid_dims"):
        too_big = [d for d in values.get(name) or () if d > width]
        if too_big:
            raise refuse(name, values[name], f"dimensions up to the model's width {width} "
                         f"({too_big} too large)")
    for layer, dim in values.get("starbucks_layer_dims") or ():
        if layer > depth or dim > width:
            raise refuse("starbucks_layer_dims", values["starbucks_layer_dims"],
                         f"layers 0..{depth} and dims 1..{width} ([{layer}, {dim}] is not)")
