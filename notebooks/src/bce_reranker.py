# %% [markdown]
# # BCE reranker: a cross-encoder trained on STSB soft labels
#
# A cross-encoder reads both texts at once and outputs one logit; `BinaryCrossEntropyLoss` trains
# `sigmoid(logit)` towards the STSB score in [0, 1] used as a soft label (seed card 003).
# `variant: adaptive` trains the same head on every layer's pooled state (by default the mean of
# the pair's token states, and a head learning at 40x the encoder's rate), each depth also pulled
# towards the last layer's score (`AdaptiveLayerCrossEncoderLoss`), so the reranker cut to k layers
# is a usable reranker with scores on the same scale.
# Evaluation: Pearson/Spearman of the predicted scores against gold on STSB validation
# (`stsb-validation`, also during training) and test (`stsb-test`), as `CECorrelationEvaluator`.
#
# **Per-layer quality.** A reranker has no embedding to truncate, so its grid has one column
# (the hidden size). Layer k keeps the first k blocks and feeds them to the trained head: this
# shows what cutting the reranker would save in measured latency and cost in quality. Before
# training the head is random, so the zero-shot grid is near zero by construction.
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
pooling: str = "auto"  # what the head reads: "cls", "mean" or "auto" (mean for adaptive, cls for plain)
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
from IPython.display import Image, display

from workbench.data import datasets as data
from workbench.evaluators import CECorrelationEvaluator
from workbench.evaluators.reranker_grid import reranker_grid
from workbench.losses.adaptive_layer_ce import reranker_loss, reranker_pooling
from workbench.models.cross_encoder import CrossEncoder
from workbench.recipes import artifacts
from workbench.runs import execute as runs
from workbench.runs import folder as run_folder
from workbench.runs import verdict
from workbench.training import TrainConfig, train
from workbench.training.trackers import open_trackers

EXPERIMENT = "bce_reranker"
METRIC = "spearman"
parameters = runs.check_parameters(EXPERIMENT, runs.current_parameters(EXPERIMENT, globals()))
run_dir = runs.prepare_out_dir(out_dir, EXPERIMENT, preset)
base_model = runs.base_model(model, run_dir)
train_limit = None if max_train_samples < 0 else max_train_samples
eval_limit = None if max_eval_samples < 0 else max_eval_samples
print(f"run folder: {run_dir}")

# %% [markdown]
# ## Data

# %%
torch.manual_seed(seed)  # the new one-logit head is drawn at load time
reranker = CrossEncoder.from_pretrained(base_model, allow_pickle_weights=allow_pickle_weights,
                                       pooling=reranker_pooling(variant, pooling))
train_ds = data.load_dataset("stsb", "train", max_samples=train_limit)
dev_ds = data.load_dataset("stsb", "validation", max_samples=eval_limit)
test_ds = data.load_dataset("stsb", "test", max_samples=eval_limit)
datasets_info = {
    "train": artifacts.dataset_summary(train_ds, "sentence-transformers/stsb", "train", reranker.tokenizer),
    "eval": artifacts.dataset_summary(dev_ds, "sentence-transformers/stsb", "validation", reranker.tokenizer),
    "test": artifacts.dataset_summary(test_ds, "sentence-transformers/stsb", "test", reranker.tokenizer),
}
artifacts.summary_table(datasets_info)

# %% [markdown]
# ## Zero-shot per-layer grid (random head: expect about 0)

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
config = TrainConfig(
    output_dir=str(run_dir), num_train_epochs=num_train_epochs, max_steps=max_steps,
    per_device_train_batch_size=per_device_train_batch_size,
    per_device_eval_batch_size=per_device_eval_batch_size, learning_rate=learning_rate,
    warmup_ratio=warmup_ratio, weight_decay=weight_decay, seed=seed, batch_sampler=batch_sampler,
    precision=precision, eval_strategy=eval_strategy, eval_steps=eval_steps,
    logging_steps=logging_steps, save_steps=save_steps, track_emissions=track_emissions,
    report_to=report_to)
evaluators = [
    CECorrelationEvaluator.from_dataset(dev_ds, "stsb-validation", batch_size=per_device_eval_batch_size),
    CECorrelationEvaluator.from_dataset(test_ds, "stsb-test", batch_size=per_device_eval_batch_size),
]
trackers = open_trackers(report_to, run_dir, params=parameters)
trackers.log_table("grid_before", grid_before, step=0)
result = train(reranker, loss, train_ds, config, evaluators=evaluators[:1],
               resume_from=resume_from_checkpoint or None, trackers=trackers)
print(f"{result.status}: {result.global_step} steps, {result.train_seconds:.1f} s, "
      f"{result.rows_per_s:.1f} rows/s")

# %% [markdown]
# ## Per-layer grid after training

# %%
grid_after = reranker_grid(reranker, test_ds, batch_size=per_device_eval_batch_size)
final_metrics, final_results = artifacts.final_metrics(reranker, evaluators)
trackers.log_table("grid_after", grid_after, step=result.global_step)
trackers.log_metrics({f"final/{k}": v for k, v in final_metrics.items()}, step=result.global_step)
trackers.close()
health = verdict.run_health(result, final_results, final_metrics, grid_before, grid_after)
grid_after = verdict.mark_grid(grid_after, health)
print(health["status"], health["diagnosis"] or "")
display(grid_after)
final_metrics

# %% [markdown]
# ## Plots

# %%
train_log = result.log
plot_paths = artifacts.save_plots(run_dir, grid_before, grid_after, train_log, metric=METRIC)
for path in plot_paths.values():
    display(Image(filename=str(path)))

# %% [markdown]
# ## Metric tables

# %%
artifacts.save_tables(run_dir, grid_before, grid_after, train_log)
display(artifacts.tradeoffs(grid_after, METRIC))
artifacts.gain_table(grid_before, grid_after, METRIC)

# %% [markdown]
# ## Saved model, metrics.json, card

# %%
reranker.save(run_dir / "model")
run_folder.write_metrics(
    run_dir, experiment=EXPERIMENT, preset=preset, parameters=parameters, metrics=final_metrics,
    grid_before=grid_before, grid_after=grid_after, health=health,
    training=artifacts.training_summary(result, config), emissions=result.emissions,
    model=artifacts.model_summary(reranker, model, "cross"), datasets=datasets_info,
    loss=artifacts.loss_summary(loss))

# %%
from workbench.reports.cards import write_card

print(write_card(run_dir))
print(f"run folder: {run_dir}")
