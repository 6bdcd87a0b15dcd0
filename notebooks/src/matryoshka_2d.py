# %% [markdown]
# # 2D Matryoshka: one encoder, every (layers, dims) cut usable
#
# Trains `Matryoshka2dLoss` over `CoSENTLoss` on STSB (seed card 002): each step samples
# `n_layers_per_step` layers and `n_dims_per_step` leading-dimension cuts and adds a KL term that
# pulls the cut layers towards the last one. With `variant = "starbucks"` a fixed small-to-large
# (layer, dim) schedule is trained at every step instead (`StarbucksLoss`).
#
# Run it here cell by cell, or in batch: `workbench run matryoshka_2d --preset cpu` (presets:
# `smoke`, `cpu`, `seed-002`). The run folder gets the executed notebook, grids, plots, the model,
# `metrics.json` and the card.

# %% tags=["parameters"]
model: str = "minilm-l6"  # local folder, Hub id, "minilm-l6", or "tiny-bert" (random, for smoke runs)
allow_pickle_weights: bool = False  # also read pytorch_model.bin (torch weights_only unpickler) when there is no safetensors
preset: str = "custom"  # preset name recorded in metrics.json (`workbench run` sets it)
out_dir: str = ""  # run folder; empty: a new runs/<timestamp>-matryoshka_2d-custom/
variant: str = "2d"  # "2d": Matryoshka2dLoss (random cuts per step); "starbucks": fixed schedule
matryoshka_dims: list = [384, 256, 128, 64, 32]  # dimensions trained; also the grid's columns
n_layers_per_step: int = 1  # layers sampled per step besides the last (-1: all)
n_dims_per_step: int = 1  # dimensions sampled per step (-1: all)
last_layer_weight: float = 1.0  # weight of the last layer's loss
prior_layers_weight: float = 1.0  # weight of the sampled earlier layers' losses
kl_div_weight: float = 1.0  # weight of the KL term towards the last layer
kl_temperature: float = 0.3  # softmax temperature of the KL term
starbucks_layer_dims: list = []  # variant starbucks: [[layer, dim], ...]; empty: the default schedule
cosent_scale: float = 20.0  # CoSENT scale
max_train_samples: int = -1  # rows of STSB train used (-1: all 5,749)
max_eval_samples: int = -1  # rows of STSB validation/test used (-1: all)
num_train_epochs: float = 1.0  # epochs (ignored when max_steps > 0)
max_steps: int = -1  # optimizer steps (-1: from num_train_epochs)
per_device_train_batch_size: int = 16  # training batch size
per_device_eval_batch_size: int = 64  # encoding batch size for evaluation
learning_rate: float = 5e-5  # peak learning rate (AdamW)
warmup_ratio: float = 0.1  # share of steps warming up linearly
weight_decay: float = 0.0  # AdamW weight decay
seed: int = 42  # seed for data order, sampling and initialisation
batch_sampler: str = "batch_sampler"  # "batch_sampler" or "no_duplicates"
precision: str = "bf16"  # "fp32", "bf16" (CPU autocast) or "fp16" (GPU)
eval_strategy: str = "steps"  # "steps", "epoch" or "no"
eval_steps: int = 120  # evaluate sts-dev every this many steps
logging_steps: int = 20  # log the loss every this many steps
save_steps: int = 120  # checkpoint every this many steps
track_emissions: bool = True  # codecarbon offline tracker
eval_tasks: list = ["stsb", "sts-suite", "scifact"]  # tasks gridded before and after training (names, suites, paths); [] skips
cut_precisions: list = ["fp32", "int8", "binary"]  # embedding precisions of the task grids
cut_rescore: int = 4  # retrieval: also re-score the quantized top 100 x this with the fp32 query (0: off)
task_max_pairs: int = -1  # pairs kept per STS / pair task (-1: all)
task_max_queries: int = -1  # queries kept per retrieval task (-1: all)
task_max_corpus: int = -1  # documents kept per retrieval task, relevant ones first (-1: all)
task_encode_precision: str = "bf16"  # encode precision of the task grids ("bf16" for long corpora)
report_to: str = "none"  # experiment trackers: "none", "all", or tensorboard, trackio, mlflow, wandb (comma-separated)
resume_from_checkpoint: str = ""  # checkpoint (or run) folder to resume training from; empty: fresh

# %%
from IPython.display import Image, display

from workbench.data import datasets as data
from workbench.evaluators import EmbeddingSimilarityEvaluator, grid
from workbench.losses import LOSSES
from workbench.models.bi_encoder import BiEncoder
from workbench.recipes import artifacts
from workbench.recipes import cuts as task_cuts
from workbench.reports import plots
from workbench.runs import execute as runs
from workbench.runs import folder as run_folder
from workbench.runs import verdict
from workbench.training import TrainConfig, train
from workbench.training.trackers import open_trackers

EXPERIMENT = "matryoshka_2d"
parameters = runs.check_parameters(EXPERIMENT, runs.current_parameters(EXPERIMENT, globals()))
run_dir = runs.prepare_out_dir(out_dir, EXPERIMENT, preset)
base_model = runs.base_model(model, run_dir)
train_limit = None if max_train_samples < 0 else max_train_samples
eval_limit = None if max_eval_samples < 0 else max_eval_samples
print(f"run folder: {run_dir}")

# %% [markdown]
# ## Data
# STSB pairs with a similarity score in [0, 1]: train for training, validation as `sts-dev`
# (evaluated during training), test as `sts-test` (the grids and the final numbers).

# %%
encoder = BiEncoder.from_pretrained(base_model, allow_pickle_weights=allow_pickle_weights)
train_ds = data.load_dataset("stsb", "train", max_samples=train_limit)
dev_ds = data.load_dataset("stsb", "validation", max_samples=eval_limit)
test_ds = data.load_dataset("stsb", "test", max_samples=eval_limit)
datasets_info = {
    "train": artifacts.dataset_summary(train_ds, "sentence-transformers/stsb", "train", encoder.tokenizer),
    "eval": artifacts.dataset_summary(dev_ds, "sentence-transformers/stsb", "validation", encoder.tokenizer),
    "test": artifacts.dataset_summary(test_ds, "sentence-transformers/stsb", "test", encoder.tokenizer),
}
artifacts.summary_table(datasets_info)

# %% [markdown]
# ## Zero-shot grid of the base model
# Every layer x dimension cell from one encode pass; latency is measured with the model cut.

# %%
grid_before = grid(encoder, test_ds, matryoshka_dims=matryoshka_dims,
                   batch_size=per_device_eval_batch_size)
plots.heatmap(grid_before, title="sts-test before training");

# %% [markdown]
# ## Zero-shot cuts on the evaluation tasks
# `eval_tasks` (default STSB, the STS suite and SciFact retrieval): every layer x dim x precision
# cell from one encode per text set, with measured encode latency, search latency and bytes.

# %%
eval_task_data = task_cuts.load_eval_tasks(eval_tasks, task_max_pairs, task_max_queries, task_max_corpus)
cut_options = dict(dims=matryoshka_dims, precisions=cut_precisions, rescore=cut_rescore,
                   encode_precision=task_encode_precision, batch_size=per_device_eval_batch_size)
cuts_before = task_cuts.grid_tasks(encoder, eval_task_data, **cut_options)
print(eval_task_data)

# %% [markdown]
# ## Training

# %%
base_loss = LOSSES["CoSENTLoss"](encoder, scale=cosent_scale)
loss_arguments = {
    "2d": {"matryoshka_dims": matryoshka_dims, "n_layers_per_step": n_layers_per_step,
           "n_dims_per_step": n_dims_per_step, "last_layer_weight": last_layer_weight,
           "prior_layers_weight": prior_layers_weight, "kl_div_weight": kl_div_weight,
           "kl_temperature": kl_temperature},
    "starbucks": {"layer_dims": [tuple(x) for x in starbucks_layer_dims] or None,
                  "kl_div_weight": kl_div_weight, "kl_temperature": kl_temperature},
}[variant]
loss = LOSSES[{"2d": "Matryoshka2dLoss", "starbucks": "StarbucksLoss"}[variant]](
    encoder, base_loss, **loss_arguments)
config = TrainConfig(
    output_dir=str(run_dir), num_train_epochs=num_train_epochs, max_steps=max_steps,
    per_device_train_batch_size=per_device_train_batch_size,
    per_device_eval_batch_size=per_device_eval_batch_size, learning_rate=learning_rate,
    warmup_ratio=warmup_ratio, weight_decay=weight_decay, seed=seed, batch_sampler=batch_sampler,
    precision=precision, eval_strategy=eval_strategy, eval_steps=eval_steps,
    logging_steps=logging_steps, save_steps=save_steps, track_emissions=track_emissions,
    report_to=report_to)
dev_evaluator = EmbeddingSimilarityEvaluator.from_dataset(
    dev_ds, "sts-dev", batch_size=per_device_eval_batch_size)
test_evaluator = EmbeddingSimilarityEvaluator.from_dataset(
    test_ds, "sts-test", batch_size=per_device_eval_batch_size)
print(loss.name, loss.config)
trackers = open_trackers(report_to, run_dir, params=parameters)
trackers.log_table("grid_before", grid_before, step=0)
result = train(encoder, loss, train_ds, config, evaluators=[dev_evaluator],
               resume_from=resume_from_checkpoint or None, trackers=trackers)
print(f"{result.status}: {result.global_step} steps, {result.train_seconds:.1f} s, "
      f"{result.rows_per_s:.1f} rows/s")

# %% [markdown]
# ## Grid after training

# %%
grid_after = grid(encoder, test_ds, matryoshka_dims=matryoshka_dims,
                  batch_size=per_device_eval_batch_size)
final_metrics, final_results = artifacts.final_metrics(encoder, [dev_evaluator, test_evaluator])
trackers.log_table("grid_after", grid_after, step=result.global_step)
trackers.log_metrics({f"final/{k}": v for k, v in final_metrics.items()}, step=result.global_step)
trackers.close()
health = verdict.run_health(result, final_results, final_metrics, grid_before, grid_after)
grid_after = verdict.mark_grid(grid_after, health)
print(health["status"], health["diagnosis"] or "")
final_metrics

# %% [markdown]
# ## Plots
# Heatmaps before/after share one colour scale; dashed lines are the zero-shot grid.

# %%
train_log = result.log
plot_paths = artifacts.save_plots(run_dir, grid_before, grid_after, train_log)
for path in plot_paths.values():
    display(Image(filename=str(path)))

# %% [markdown]
# ## Metric tables
# The full model against the cheapest cells within 1% and 5% of it, and the gain per cell.

# %%
artifacts.save_tables(run_dir, grid_before, grid_after, train_log)
display(artifacts.tradeoffs(grid_after))
artifacts.gain_table(grid_before, grid_after)

# %% [markdown]
# ## Cuts after training: zero-shot vs trained per task

# %%
cuts_after = task_cuts.grid_tasks(encoder, eval_task_data, **cut_options)
task_cuts.zero_shot_vs_trained(cuts_before, cuts_after)

# %% [markdown]
# ## Saved model, metrics.json, card

# %%
encoder.save(run_dir / "model")
task_cuts.save(run_dir, cuts_before, cuts_after)
run_folder.write_metrics(
    run_dir, experiment=EXPERIMENT, preset=preset, parameters=parameters, metrics=final_metrics,
    grid_before=grid_before, grid_after=grid_after, health=health,
    training=artifacts.training_summary(result, config), emissions=result.emissions,
    model=artifacts.model_summary(encoder, model, "bi"), datasets=datasets_info,
    loss=artifacts.loss_summary(loss))

# %%
from workbench.reports.cards import write_card

print(write_card(run_dir))
print(f"run folder: {run_dir}")
