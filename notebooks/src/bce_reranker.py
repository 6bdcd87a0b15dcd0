# %% [markdown]
# # BCE reranker: a cross-encoder trained on STSB soft labels
#
# A cross-encoder reads both texts at once and outputs one logit; `BinaryCrossEntropyLoss` trains
# `sigmoid(logit)` towards the STSB score in [0, 1] used as a soft label (seed card 003).
# `variant: adaptive` trains the same head on every layer's pooled states (by default a weighted
# cosine of the two texts' mean states, and a head learning at 40x the encoder's rate), each depth also pulled
# towards the last layer's score (`AdaptiveLayerCrossEncoderLoss`), so the reranker cut to k layers
# is a usable reranker with scores on the same scale.
# Evaluation: Pearson/Spearman of the predicted scores against gold on STSB validation
# (`stsb-validation`, also during training) and test (`stsb-test`), as `CECorrelationEvaluator`.
#
# **Per-layer quality.** A reranker has no embedding to truncate, so its grid has one column
# (the hidden size). Layer k keeps the first k blocks and feeds them to the trained head: this
# shows what cutting the reranker would save in measured latency and cost in quality. Before
# training a `cls` or `mean` head is random, so its zero-shot grid is near zero by construction; a
# `segments` head starts as the cosine of the two texts' states, so its zero-shot grid is a
# bi-encoder's score read through cross-attention.
#
# Batch: `workbench run bce_reranker --preset cpu` (presets `smoke`, `cpu`, `seed-003`).

# %% tags=["parameters"]
model: str = "minilm-l6"  # local folder, Hub id, "minilm-l6", or "tiny-bert" (random, for smoke runs)
allow_pickle_weights: bool = False  # also read pytorch_model.bin (torch weights_only unpickler) when there is no safetensors
preset: str = "custom"  # preset name recorded in metrics.json (`workbench run` sets it)
out_dir: str = ""  # run folder; empty: a new runs/<timestamp>-bce_reranker-custom/
variant: str = "plain"  # "plain": BCE on the last layer; "adaptive": AdaptiveLayerCrossEncoderLoss (every depth)
n_layers_per_step: int = -1  # adaptive: prior layers trained per step (-1: all)
prior_layers_weight: float = 1.0  # adaptive: weight of the prior layers' mean loss
distill: str = "kl"  # adaptive: pull of each depth to the last, "kl" (Bernoulli) or "mse" (logits)
distill_weight: float = 1.0  # adaptive: weight of that pull (0: off)
pos_weight: float = 0.0  # BCE weight of positive labels (0: unweighted)
pooling: str = "auto"  # what the head reads: "cls", "mean", "segments" (the two texts compared) or "auto" (segments for adaptive, cls for plain)
head_lr_scale: float = 40.0  # adaptive: the head's learning rate as a multiple of learning_rate
layer_weighting: str = "uniform"  # adaptive: weight of each prior layer, "uniform", "log" or "linear"
max_train_samples: int = -1  # rows of STSB train used (-1: all 5,749)
max_eval_samples: int = -1  # rows of STSB validation/test used (-1: all)
num_train_epochs: float = 1.0  # epochs (ignored when max_steps > 0)
max_steps: int = -1  # optimizer steps (-1: from num_train_epochs)
per_device_train_batch_size: int = 64  # training batch size
per_device_eval_batch_size: int = 64  # prediction batch size for evaluation
learning_rate: float = 5e-5  # peak learning rate (AdamW)
warmup_ratio: float = 0.1  # share of steps warming up linearly
weight_decay: float = 0.0  # AdamW weight decay
seed: int = 42  # seed for data order and the new head's initialisation
batch_sampler: str = "batch_sampler"  # "batch_sampler" or "no_duplicates"
precision: str = "bf16"  # "fp32", "bf16" (CPU autocast) or "fp16" (GPU)
eval_strategy: str = "steps"  # "steps", "epoch" or "no"
eval_steps: int = 30  # evaluate stsb-validation every this many steps
logging_steps: int = 10  # log the loss every this many steps
save_steps: int = 30  # checkpoint every this many steps
track_emissions: bool = True  # codecarbon offline tracker
report_to: str = "none"  # experiment trackers: "none", "all", or tensorboard, trackio, mlflow, wandb (comma-separated)
resume_from_checkpoint: str = ""  # checkpoint (or run) folder to resume training from; empty: fresh

# %%
import torch

from workbench.data import datasets as data
from workbench.evaluators import CECorrelationEvaluator
from workbench.evaluators.reranker_grid import reranker_grid
from workbench.losses.adaptive_layer_ce import reranker_loss, reranker_pooling
from workbench.models.cross_encoder import CrossEncoder
from workbench.recipes import start

run = start("bce_reranker", globals(), metric="spearman")

# %% [markdown]
# ## Data

# %%
torch.manual_seed(seed)  # the new one-logit head is drawn at load time
reranker = CrossEncoder.from_pretrained(run.base_model, allow_pickle_weights=allow_pickle_weights,
                                       pooling=reranker_pooling(variant, pooling))
train_ds = data.load_dataset("stsb", "train", max_samples=run.train_limit)
dev_ds = data.load_dataset("stsb", "validation", max_samples=run.eval_limit)
test_ds = data.load_dataset("stsb", "test", max_samples=run.eval_limit)
run.describe(reranker.tokenizer, train=(train_ds, "sentence-transformers/stsb", "train"),
             eval=(dev_ds, "sentence-transformers/stsb", "validation"),
             test=(test_ds, "sentence-transformers/stsb", "test"))

# %% [markdown]
# ## Zero-shot per-layer grid (random head: about 0; segments head: the texts' cosine)

# %%
grid_before = reranker_grid(reranker, test_ds, batch_size=per_device_eval_batch_size)
grid_before

# %% [markdown]
# ## Training

# %%
loss = reranker_loss(reranker, variant, pos_weight=pos_weight or None,
                     **({} if variant == "plain" else dict(
                         n_layers_per_step=n_layers_per_step, distill=distill,
                         prior_layers_weight=prior_layers_weight, distill_weight=distill_weight,
                         head_lr_scale=head_lr_scale, layer_weighting=layer_weighting)))
evaluators = [
    CECorrelationEvaluator.from_dataset(dev_ds, "stsb-validation", batch_size=per_device_eval_batch_size),
    CECorrelationEvaluator.from_dataset(test_ds, "stsb-test", batch_size=per_device_eval_batch_size),
]
result = run.train(reranker, loss, train_ds, evaluators[:1], grid_before)

# %% [markdown]
# ## Per-layer grid after training

# %%
grid_after = reranker_grid(reranker, test_ds, batch_size=per_device_eval_batch_size)
grid_after = run.evaluate(reranker, evaluators, result, grid_before, grid_after)
grid_after

# %% [markdown]
# ## Plots, metric tables, saved model, metrics.json, card

# %%
run.finish(reranker, loss, result, grid_before, grid_after, kind="cross")
