"""AdamW (fused) and the linear warmup/decay schedule, as the Hugging Face Trainer builds them.

Weight decay skips biases and normalisation weights (``Trainer.get_decay_parameter_names``);
warmup steps = ``ceil(warmup_ratio * total_steps)``; AdamW betas (0.9, 0.999), eps 1e-8.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import get_linear_schedule_with_warmup
from transformers.trainer_pt_utils import get_parameter_names

from workbench.training.config import TrainConfig

NO_DECAY_PATTERNS = [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]


def decay_parameter_names(module: nn.Module) -> set[str]:
    """Names of the parameters that get weight decay (Hugging Face's rule)."""
    return set(get_parameter_names(module, [nn.LayerNorm], NO_DECAY_PATTERNS))


def make_optimizer(module: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over ``module``'s trainable parameters in two groups (decay / no decay).

    A loss with ``parameter_lr_scales() -> {id(parameter): multiple}`` (a new head that should
    learn faster) gets those parameters in groups of their own at ``learning_rate * multiple``.
    """
    decay = decay_parameter_names(module)
    scales_of = getattr(module, "parameter_lr_scales", None)
    scales = scales_of() if callable(scales_of) else {}
    params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    groups = []
    for scale in sorted({scales.get(id(p), 1.0) for _, p in params}):
        mine = [(n, p) for n, p in params if scales.get(id(p), 1.0) == scale]
        lr = {} if scale == 1.0 else {"lr": config.learning_rate * scale}
        groups += [
            {"params": [p for n, p in mine if n in decay], "weight_decay": config.weight_decay, **lr},
            {"params": [p for n, p in mine if n not in decay], "weight_decay": 0.0, **lr},
        ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.learning_rate,
                             betas=(config.adam_beta1, config.adam_beta2),
                             eps=config.adam_epsilon, fused=_fusable(p for _, p in params))


def _fusable(params) -> bool:
    """Fused AdamW (one kernel per step, HF's default ``adamw_torch_fused``) where torch has it:
    float params on CPU or CUDA. The per-parameter loop costs ~10x more on CPU."""
    return all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)


def warmup_steps(config: TrainConfig, total_steps: int) -> int:
    return math.ceil(total_steps * config.warmup_ratio)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
    """Linear warmup to ``learning_rate`` then linear decay to 0 at ``total_steps``."""
    return get_linear_schedule_with_warmup(optimizer, warmup_steps(config, total_steps), total_steps)
