"""TrainConfig: the seed cards' hyperparameters, one default each, validated up front.

Names follow Hugging Face ``TrainingArguments`` as the seed cards list them; defaults are the
Hugging Face defaults, so ``to_card_dict()["non_default"]`` matches the cards' "Non-Default
Hyperparameters" section. An experiment's own values live in one place, its notebook's
``parameters`` cell (presets override them), and reach the library through
:meth:`TrainConfig.from_params`. Data- and model-dependent checks live in :func:`check_setup`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.data.columns import split_columns
from workbench.errors import ParameterError
from workbench.training.trackers import TrackerError, parse_report_to

EVAL_STRATEGIES = ("no", "steps", "epoch")
PRECISIONS = ("fp32", "bf16", "fp16")
SCHEDULERS = ("linear",)


class ConfigError(ParameterError):
    """A training configuration that cannot work, reported before the first step."""


@dataclass
class TrainConfig:
    """Hyperparameters of one training run (names as in the seed cards)."""

    output_dir: str | None = None
    num_train_epochs: float = 3.0
    max_steps: int = -1
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    lr_scheduler_type: str = "linear"
    warmup_ratio: float = 0.0
    seed: int = 42
    eval_strategy: str = "no"
    eval_steps: int | None = None
    logging_steps: int = 500
    save_steps: int = 500
    save_total_limit: int | None = 2
    batch_sampler: str = "batch_sampler"
    max_seq_length: int | None = None
    precision: str = "fp32"
    gradient_accumulation_steps: int = 1
    dataloader_drop_last: bool = False
    group_by_length: bool = False
    disable_tqdm: bool = False
    track_emissions: bool = True
    report_to: str | list[str] = "none"
    """Experiment trackers: "none", "all", or names of tensorboard, trackio, mlflow, wandb."""
    # health checks (workbench additions; see workbench.training.health)
    collapse_patience: int = 2
    stop_on_degenerate: bool = True
    flat_loss_rtol: float = 1e-3
    collapse_cosine: float = 0.99
    loss_blowup_factor: float = 4.0

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_params(cls, params: Mapping[str, Any], **fixed: Any) -> TrainConfig:
        """The config of a notebook's parameters: every parameter named like a field (others,
        such as ``model`` or the loss settings, are not training settings); ``fixed`` (e.g.
        ``output_dir``) wins over ``params``."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in params.items() if k in names}, **fixed})

    @property
    def eval_every(self) -> int:
        """Steps between evaluations (``eval_strategy="steps"``): ``eval_steps``, else
        ``logging_steps`` as in Hugging Face."""
        return int(self.eval_steps) if self.eval_steps is not None else int(self.logging_steps)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the setting, its value and what is allowed, for
        settings that are wrong whatever the data."""
        _choice("eval_strategy", self.eval_strategy, EVAL_STRATEGIES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("lr_scheduler_type", self.lr_scheduler_type, SCHEDULERS)
        _choice("batch_sampler", self.batch_sampler, _sampler_names())
        for name in ("learning_rate", "num_train_epochs", "warmup_ratio", "weight_decay",
                     "max_grad_norm"):
            _finite(name, getattr(self, name))
        _check(self.warmup_ratio, 0.0 <= self.warmup_ratio <= 1.0, "warmup_ratio", "in [0, 1]")
        _check(self.learning_rate, self.learning_rate >= 0, "learning_rate", "a number >= 0")
        _check(self.weight_decay, self.weight_decay >= 0, "weight_decay", "a number >= 0")
        for name in ("per_device_train_batch_size", "per_device_eval_batch_size",
                     "gradient_accumulation_steps", "logging_steps", "save_steps",
                     "collapse_patience"):
            _integer(name, getattr(self, name), low=1)
        _integer("max_steps", self.max_steps, low=1, all_value=-1)
        _integer("seed", self.seed, low=0)
        if self.eval_steps is not None:
            _integer("eval_steps", self.eval_steps, low=1)
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise ConfigError(f"num_train_epochs={self.num_train_epochs!r} is not allowed with "
                              "max_steps=-1: set num_train_epochs > 0 or max_steps >= 1")
        try:
            parse_report_to(self.report_to)
        except TrackerError as err:
            raise ConfigError(str(err)) from err

    def to_card_dict(self) -> dict[str, dict[str, Any]]:
        """``{"all": {...}, "non_default": {...}}`` in the cards' naming (fp16/bf16 flags)."""
        values = _card_values(self)
        defaults = _card_values(TrainConfig())
        changed = {k: v for k, v in values.items() if defaults.get(k) != v and k != "output_dir"}
        return {"all": values, "non_default": changed}


def _card_values(config: TrainConfig) -> dict[str, Any]:
    values = dataclasses.asdict(config)
    precision = values.pop("precision")
    values["bf16"] = precision == "bf16"
    values["fp16"] = precision == "fp16"
    return values


def _choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"parameter {name}={value!r} is not allowed: one of {', '.join(allowed)}")


def _check(value: Any, ok: bool, name: str, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"parameter {name}={value!r} is not allowed: {allowed}")


def _finite(name: str, value: Any) -> None:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    _check(value, is_number and math.isfinite(value), name, "a finite number")


def _integer(name: str, value: Any, low: int, all_value: int | None = None) -> None:
    is_int = isinstance(value, int) and not isinstance(value, bool)
    extra = f" (or {all_value})" if all_value is not None else ""
    _check(value, is_int and (value >= low or value == all_value), name, f"an integer >= {low}{extra}")


def check_device(config: TrainConfig) -> None:
    """Refuse a precision this machine cannot run (fp16 needs a CUDA GPU)."""
    import torch

    if config.precision == "fp16" and not torch.cuda.is_available():
        raise ConfigError("parameter precision='fp16' is not allowed here: fp16 needs a CUDA GPU "
                          "and none is available; on CPU use 'bf16' or 'fp32'")


def _sampler_names() -> tuple[str, ...]:
    from workbench.data.samplers import SAMPLERS

    return tuple(SAMPLERS)


def check_setup(config: TrainConfig, model: Any, loss: Any, dataset: Any, world_size: int = 1) -> None:
    """Raise :class:`ConfigError` for a run that cannot work with this model, loss and data."""
    rows = len(dataset)
    if rows == 0:
        raise ConfigError("the training dataset is empty")
    batch = config.per_device_train_batch_size * world_size
    if batch > rows:
        raise ConfigError(f"batch size {batch} is larger than the training data ({rows} rows); "
                          f"lower per_device_train_batch_size")
    texts, label = split_columns(dataset.column_names)
    _check_columns(loss, texts, label)
    _check_cells(model, getattr(loss, "config", {}) or {})


def _check_columns(loss: Any, texts: list[str], label: str | None) -> None:
    name = type(loss).__name__
    if not texts:
        raise ConfigError(f"the data has no text column (columns: label '{label}' only)")
    cols = getattr(loss, "columns", None)
    if cols is not None:
        low, high = (cols, cols) if isinstance(cols, int) else (cols[0], cols[-1])
        if not low <= len(texts) <= (high if high is not None else 10**9):
            raise ConfigError(f"{name} needs {low}..{high} text columns but the data has "
                              f"{len(texts)}: {texts}")
    needs_label = getattr(loss, "label_range", None) is not None
    if needs_label and label is None:
        raise ConfigError(f"{name} needs a label or score column; the data has only {texts}")


def _check_cells(model: Any, loss_config: dict[str, Any]) -> None:
    check = getattr(model, "check_cell", None)
    if check is None:
        return
    try:
        for dim in loss_config.get("matryoshka_dims") or ():
            check(dim=int(dim))
        for layer in loss_config.get("layers") or ():
            check(layer=int(layer))
        for layer, dim in loss_config.get("layer_dims") or ():
            check(layer=int(layer) or None, dim=int(dim))  # layer 0: the embedding layer
    except ValueError as err:
        raise ConfigError(f"the loss asks for a cell the model lacks: {err}") from err
