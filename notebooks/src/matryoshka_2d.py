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
from workbench.data import datasets as data
from workbench.evaluators import EmbeddingSimilarityEvaluator, grid
from workbench.losses import LOSSES
from workbench.models.bi_encoder import BiEncoder
from workbench.recipes import start
from workbench.reports import plots

run = start("matryoshka_2d", globals())

# %% [markdown]
# ## Data
# STSB pairs with a similarity score in [0, 1]: train for training, validation as `sts-dev`
# (evaluated during training), test as `sts-test` (the grids and the final numbers).

# %%
encoder = BiEncoder.from_pretrained(run.base_model, allow_pickle_weights=allow_pickle_weights)
train_ds = data.load_dataset("stsb", "train", max_samples=run.train_limit)
dev_ds = data.load_dataset("stsb", "validation", max_samples=run.eval_limit)
test_ds = data.load_dataset("stsb", "test", max_samples=run.eval_limit)
run.describe(encoder.tokenizer, train=(train_ds, "sentence-transformers/stsb", "train"),
             eval=(dev_ds, "sentence-transformers/stsb", "validation"),
             test=(test_ds, "sentence-transformers/stsb", "test"))

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
run.grid_tasks(encoder, matryoshka_dims)

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
dev_evaluator = EmbeddingSimilarityEvaluator.from_dataset(
    dev_ds, "sts-dev", batch_size=per_device_eval_batch_size)
test_evaluator = EmbeddingSimilarityEvaluator.from_dataset(
    test_ds, "sts-test", batch_size=per_device_eval_batch_size)
print(loss.name, loss.config)
result = run.train(encoder, loss, train_ds, [dev_evaluator], grid_before)

# %% [markdown]
# ## Grid after training

# %%
grid_after = grid(encoder, test_ds, matryoshka_dims=matryoshka_dims,
                  batch_size=per_device_eval_batch_size)
grid_after = run.evaluate(encoder, [dev_evaluator, test_evaluator], result, grid_before, grid_after)

# %% [markdown]
# ## Cuts after training on the evaluation tasks

# %%
run.grid_tasks(encoder, matryoshka_dims)

# %% [markdown]
# ## Plots, metric tables, saved model, metrics.json, card
# Heatmaps before/after share one colour scale; dashed lines are the zero-shot grid. Then the full
# model against the cheapest cells within 1% and 5% of it, the gain per cell, and the zero-shot vs
# trained score per evaluation task.

# %%
run.finish(encoder, loss, result, grid_before, grid_after)
