# %% [markdown]
# # AdaptiveLayer: an encoder whose early layers are already good embeddings
#
# Trains `AdaptiveLayerLoss` over `MultipleNegativesRankingLoss` (seed cards 000 and 001): each
# step adds the MNRL loss of `n_layers_per_step` sampled earlier layers (-1: all) and a KL term
# pulling them towards the last layer, so the model can be cut to fewer layers at inference.
#
# **Training data.** `train_data = "allnli"`: (anchor, positive, negative) triplets, as seed card
# 001. `train_data = "snli"`: SNLI (premise, hypothesis) pairs, as seed card 000. MNRL treats
# every pair as a positive, so SNLI pairs are filtered to entailment by default
# (`snli_keep = "entailment"`); seed card 000 trained on all pairs regardless of label, which
# `snli_keep = "all"` reproduces, with a warning counting the contradiction pairs it keeps.
# Offline (`train_split = "offline"`) no NLI train split exists: allnli means dev + test (13,193
# triplets), snli means the validation split.
#
# **Evaluation.** STSB validation (`sts-dev`) during training; STSB test (`sts-test`) for the
# grids and the final numbers; binary classification on NLI pairs of `binary_eval_split` with
# **entailment = 1, contradiction = 0 and neutral pairs dropped** (seed card 000's metrics).
# The notebook counts how many of those pairs were also training pairs and warns if any were.
#
# Batch: `workbench run adaptive_layer --preset cpu` (presets `smoke`, `cpu`, `seed-000`,
# `seed-001`).

# %% tags=["parameters"]
model: str = "minilm-l6"  # local folder, Hub id, "minilm-l6", or "tiny-bert" (random, for smoke runs)
allow_pickle_weights: bool = False  # also read pytorch_model.bin (torch weights_only unpickler) when there is no safetensors
preset: str = "custom"  # preset name recorded in metrics.json (`workbench run` sets it)
out_dir: str = ""  # run folder; empty: a new runs/<timestamp>-adaptive_layer-custom/
train_data: str = "allnli"  # "allnli" (triplets, seed 001) or "snli" (pairs, seed 000)
train_split: str = "offline"  # "offline" (allnli dev+test / snli validation) or a Hub split such as "train"
snli_keep: str = "entailment"  # train_data snli: "entailment" pairs only, or "all" (seed 000; warns)
binary_eval_split: str = "validation"  # SNLI split for binary classification (neutral dropped)
n_layers_per_step: int = 1  # earlier layers sampled per step (-1: all, seed 000)
last_layer_weight: float = 1.0  # weight of the last layer's loss
prior_layers_weight: float = 1.0  # weight of the sampled earlier layers' losses
kl_div_weight: float = 1.0  # weight of the KL term towards the last layer
kl_temperature: float = 0.3  # softmax temperature of the KL term
mnrl_scale: float = 20.0  # MNRL similarity scale
grid_dims: list = []  # dimensions in the grid; empty: hidden size and powers of two down to 32
max_train_samples: int = -1  # training rows used (-1: all)
max_eval_samples: int = -1  # rows of each evaluation set (-1: all)
num_train_epochs: float = 1.0  # epochs (ignored when max_steps > 0)
max_steps: int = -1  # optimizer steps (-1: from num_train_epochs)
per_device_train_batch_size: int = 128  # training batch size (in-batch negatives)
per_device_eval_batch_size: int = 64  # encoding batch size for evaluation
learning_rate: float = 5e-5  # peak learning rate (AdamW)
warmup_ratio: float = 0.1  # share of steps warming up linearly
weight_decay: float = 0.0  # AdamW weight decay
seed: int = 42  # seed for data order, sampling and initialisation
batch_sampler: str = "no_duplicates"  # "no_duplicates" (no repeated text in a batch) or "batch_sampler"
precision: str = "bf16"  # "fp32", "bf16" (CPU autocast) or "fp16" (GPU)
eval_strategy: str = "steps"  # "steps", "epoch" or "no"
eval_steps: int = 25  # evaluate sts-dev every this many steps
logging_steps: int = 5  # log the loss every this many steps
save_steps: int = 25  # checkpoint every this many steps
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
from workbench.data.nli_train import nli_training_rows
from workbench.evaluators import BinaryClassificationEvaluator, EmbeddingSimilarityEvaluator, grid
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

EXPERIMENT = "adaptive_layer"
parameters = runs.check_parameters(EXPERIMENT, runs.current_parameters(EXPERIMENT, globals()))
run_dir = runs.prepare_out_dir(out_dir, EXPERIMENT, preset)
base_model = runs.base_model(model, run_dir)
train_limit = None if max_train_samples < 0 else max_train_samples
eval_limit = None if max_eval_samples < 0 else max_eval_samples
train_name = {"allnli": "sentence-transformers/all-nli", "snli": "stanfordnlp/snli"}[train_data]
print(f"run folder: {run_dir}")

# %% [markdown]
# ## Data

# %%
encoder = BiEncoder.from_pretrained(base_model, allow_pickle_weights=allow_pickle_weights)
train_ds, train_split_used = nli_training_rows(train_data, train_split, keep=snli_keep,
                                               max_samples=train_limit)
dev_ds = data.load_dataset("stsb", "validation", max_samples=eval_limit)
test_ds = data.load_dataset("stsb", "test", max_samples=eval_limit)
binary_ds = data.nli_binary_pairs(binary_eval_split, max_samples=eval_limit)
train_texts = {text for column in train_ds.column_names for text in train_ds[column]}
binary_seen = sum(a in train_texts and b in train_texts
                  for a, b in zip(binary_ds["sentence1"], binary_ds["sentence2"], strict=True))
if binary_seen:
    print(f"WARNING: {binary_seen} of {len(binary_ds)} binary-classification pairs have both "
          "texts in the training data; their metrics are not held-out numbers")
datasets_info = {
    "train": artifacts.dataset_summary(train_ds, train_name, train_split_used, encoder.tokenizer),
    "eval": artifacts.dataset_summary(dev_ds, "sentence-transformers/stsb", "validation", encoder.tokenizer),
    "test": artifacts.dataset_summary(test_ds, "sentence-transformers/stsb", "test", encoder.tokenizer),
    "binary": artifacts.dataset_summary(binary_ds, "stanfordnlp/snli", binary_eval_split, encoder.tokenizer),
}
datasets_info["binary"]["note"] = ("entailment = 1, contradiction = 0, neutral dropped; "
                                   f"{binary_seen} pairs also seen in training")
artifacts.summary_table(datasets_info)

# %% [markdown]
# ## Zero-shot grid of the base model (STSB test)

# %%
grid_before = grid(encoder, test_ds, dims=grid_dims or None, batch_size=per_device_eval_batch_size)
plots.per_layer(grid_before);

# %% [markdown]
# ## Zero-shot cuts on the evaluation tasks
# `eval_tasks` (default STSB, the STS suite and SciFact retrieval): every layer x dim x precision
# cell from one encode per text set, with measured encode latency, search latency and bytes.

# %%
eval_task_data = task_cuts.load_eval_tasks(eval_tasks, task_max_pairs, task_max_queries, task_max_corpus)
cut_options = dict(dims=grid_dims or None, precisions=cut_precisions, rescore=cut_rescore,
                   encode_precision=task_encode_precision, batch_size=per_device_eval_batch_size)
cuts_before = task_cuts.grid_tasks(encoder, eval_task_data, **cut_options)
print(eval_task_data)

# %% [markdown]
# ## Training

# %%
loss = LOSSES["AdaptiveLayerLoss"](
    encoder, LOSSES["MultipleNegativesRankingLoss"](encoder, scale=mnrl_scale),
    n_layers_per_step=n_layers_per_step, last_layer_weight=last_layer_weight,
    prior_layers_weight=prior_layers_weight, kl_div_weight=kl_div_weight,
    kl_temperature=kl_temperature)
config = TrainConfig(
    output_dir=str(run_dir), num_train_epochs=num_train_epochs, max_steps=max_steps,
    per_device_train_batch_size=per_device_train_batch_size,
    per_device_eval_batch_size=per_device_eval_batch_size, learning_rate=learning_rate,
    warmup_ratio=warmup_ratio, weight_decay=weight_decay, seed=seed, batch_sampler=batch_sampler,
    precision=precision, eval_strategy=eval_strategy, eval_steps=eval_steps,
    logging_steps=logging_steps, save_steps=save_steps, track_emissions=track_emissions,
    report_to=report_to)
evaluators = [
    EmbeddingSimilarityEvaluator.from_dataset(dev_ds, "sts-dev", batch_size=per_device_eval_batch_size),
    EmbeddingSimilarityEvaluator.from_dataset(test_ds, "sts-test", batch_size=per_device_eval_batch_size),
    BinaryClassificationEvaluator.from_dataset(binary_ds, f"snli-{binary_eval_split}",
                                               batch_size=per_device_eval_batch_size),
]
print(loss.name, loss.config)
trackers = open_trackers(report_to, run_dir, params=parameters)
trackers.log_table("grid_before", grid_before, step=0)
result = train(encoder, loss, train_ds, config, evaluators=evaluators[:1],
               resume_from=resume_from_checkpoint or None, trackers=trackers)
print(f"{result.status}: {result.global_step} steps, {result.train_seconds:.1f} s, "
      f"{result.rows_per_s:.1f} rows/s")

# %% [markdown]
# ## Grid after training

# %%
grid_after = grid(encoder, test_ds, dims=grid_dims or None, batch_size=per_device_eval_batch_size)
final_metrics, final_results = artifacts.final_metrics(encoder, evaluators)
trackers.log_table("grid_after", grid_after, step=result.global_step)
trackers.log_metrics({f"final/{k}": v for k, v in final_metrics.items()}, step=result.global_step)
trackers.close()
health = verdict.run_health(result, final_results, final_metrics, grid_before, grid_after)
grid_after = verdict.mark_grid(grid_after, health)
print(health["status"], health["diagnosis"] or "")
final_metrics

# %% [markdown]
# ## Plots
# Dashed lines: the zero-shot grid. The per-layer plot is the one this loss is about.

# %%
train_log = result.log
plot_paths = artifacts.save_plots(run_dir, grid_before, grid_after, train_log)
for path in plot_paths.values():
    display(Image(filename=str(path)))

# %% [markdown]
# ## Metric tables

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
