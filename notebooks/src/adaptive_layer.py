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
from workbench.data import datasets as data
from workbench.data.nli_train import nli_training_rows
from workbench.evaluators import BinaryClassificationEvaluator, EmbeddingSimilarityEvaluator, grid
from workbench.losses import LOSSES
from workbench.models.bi_encoder import BiEncoder
from workbench.recipes import start
from workbench.reports import plots

run = start("adaptive_layer", globals())
train_name = {"allnli": "sentence-transformers/all-nli", "snli": "stanfordnlp/snli"}[train_data]

# %% [markdown]
# ## Data

# %%
encoder = BiEncoder.from_pretrained(run.base_model, allow_pickle_weights=allow_pickle_weights)
train_ds, train_split_used = nli_training_rows(train_data, train_split, keep=snli_keep,
                                               max_samples=run.train_limit)
dev_ds = data.load_dataset("stsb", "validation", max_samples=run.eval_limit)
test_ds = data.load_dataset("stsb", "test", max_samples=run.eval_limit)
binary_ds = data.nli_binary_pairs(binary_eval_split, max_samples=run.eval_limit)
train_texts = {text for column in train_ds.column_names for text in train_ds[column]}
binary_seen = sum(a in train_texts and b in train_texts
                  for a, b in zip(binary_ds["sentence1"], binary_ds["sentence2"], strict=True))
if binary_seen:
    print(f"WARNING: {binary_seen} of {len(binary_ds)} binary-classification pairs have both "
          "texts in the training data; their metrics are not held-out numbers")
summary = run.describe(encoder.tokenizer, train=(train_ds, train_name, train_split_used),
                       eval=(dev_ds, "sentence-transformers/stsb", "validation"),
                       test=(test_ds, "sentence-transformers/stsb", "test"),
                       binary=(binary_ds, "stanfordnlp/snli", binary_eval_split))
run.datasets["binary"]["note"] = ("entailment = 1, contradiction = 0, neutral dropped; "
                                  f"{binary_seen} pairs also seen in training")
summary

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
run.grid_tasks(encoder, grid_dims or None)

# %% [markdown]
# ## Training

# %%
loss = LOSSES["AdaptiveLayerLoss"](
    encoder, LOSSES["MultipleNegativesRankingLoss"](encoder, scale=mnrl_scale),
    n_layers_per_step=n_layers_per_step, last_layer_weight=last_layer_weight,
    prior_layers_weight=prior_layers_weight, kl_div_weight=kl_div_weight,
    kl_temperature=kl_temperature)
evaluators = [
    EmbeddingSimilarityEvaluator.from_dataset(dev_ds, "sts-dev", batch_size=per_device_eval_batch_size),
    EmbeddingSimilarityEvaluator.from_dataset(test_ds, "sts-test", batch_size=per_device_eval_batch_size),
    BinaryClassificationEvaluator.from_dataset(binary_ds, f"snli-{binary_eval_split}",
                                               batch_size=per_device_eval_batch_size),
]
print(loss.name, loss.config)
result = run.train(encoder, loss, train_ds, evaluators[:1], grid_before)

# %% [markdown]
# ## Grid after training

# %%
grid_after = grid(encoder, test_ds, dims=grid_dims or None, batch_size=per_device_eval_batch_size)
grid_after = run.evaluate(encoder, evaluators, result, grid_before, grid_after)

# %% [markdown]
# ## Cuts after training on the evaluation tasks

# %%
run.grid_tasks(encoder, grid_dims or None)

# %% [markdown]
# ## Plots, metric tables, saved model, metrics.json, card
# Dashed lines: the zero-shot grid. The per-layer plot is the one this loss is about. Then the
# zero-shot vs trained score per evaluation task.

# %%
run.finish(encoder, loss, result, grid_before, grid_after)
