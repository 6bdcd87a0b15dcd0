# %% [markdown]
# # Retrieve then rerank on SciFact: a reranker trained on negatives mined by the bi-encoder
#
# 1. **Mine.** The bi-encoder cell `(mine_layer, mine_dim)` ranks the SciFact corpus (the
#    evaluation corpus, plus the train positives) for every SciFact *train* query; documents ranked `range_min..range_max` that score at least
#    `relative_margin` below the query's positive become negatives (`workbench.data.mining`,
#    the rules of sentence-transformers' `mine_hard_negatives`). Output: labelled pairs
#    (query, document, 1 for a judged positive / 0 for a mined negative).
# 2. **Train** a cross-encoder on them (`variant: adaptive` trains every depth with one shared
#    head, `AdaptiveLayerCrossEncoderLoss`; `plain` is BCE on the last layer).
# 3. **Evaluate behind the bi-encoder** on SciFact *test*: every bi-encoder cell in `cells`
#    retrieves the top `top_n`, the reranker cut to each depth in `rerank_depths` rescores them
#    (depth 0 = retrieval alone). nDCG@10, MRR@10 and the measured latency per query (query
#    encode + search + reranking) for every pair; the cheapest pipeline within 1% / 5% of the best.
#
# The per-layer grid of the run folder (`grid.csv`, `grid_before.csv`) is the reranker's quality
# at each depth on SciFact test candidates (judged positives and mined negatives, labels 1/0):
# Spearman and agreement with one threshold (score 0.5).
#
# Batch: `workbench run rerank_pipeline --preset cpu` (presets `smoke`, `cpu`).

# %% tags=["parameters"]
model: str = "minilm-l6"  # bi-encoder (retrieval and mining): folder, Hub id, "minilm-l6" or "tiny-bert"
reranker_model: str = ""  # reranker start: a saved cross-encoder or base model; empty: `model` with a new head
preset: str = "custom"  # preset name recorded in metrics.json (`workbench run` sets it)
out_dir: str = ""  # run folder; empty: a new runs/<timestamp>-rerank_pipeline-custom/
data: str = "scifact"  # retrieval data in the BEIR/MTEB layout: name under WORKBENCH_DATA, folder or Hub id
max_train_queries: int = -1  # train queries used for mining (-1: all 809)
max_test_queries: int = -1  # test queries evaluated (-1: all 300)
max_corpus: int = -1  # corpus documents kept (relevant ones first; -1: all 5,183)
max_train_samples: int = -1  # mined training pairs used (-1: all)
max_eval_samples: int = -1  # mined test pairs of the per-depth grid (-1: all)
mine_layer: int = 6  # bi-encoder layer that mines (0: last)
mine_dim: int = 384  # bi-encoder dims that mine (0: all)
num_negatives: int = 3  # mined negatives per query
range_min: int = 0  # skip the first candidates (possible unjudged positives)
range_max: int = 50  # candidates considered per query
relative_margin: float = 0.05  # negatives score at least this share of |positive score| below it
sampling: str = "top"  # "top" or "random" among the candidates left
variant: str = "adaptive"  # "plain" or "adaptive" (every depth, AdaptiveLayerCrossEncoderLoss)
pooling: str = "auto"  # a new head reads "cls", "mean", "segments" (the two texts compared) or "auto" (segments for adaptive, cls for plain)
max_length: int = 256  # reranker tokens per (query, document) pair
num_train_epochs: float = 1.0  # epochs (ignored when max_steps > 0)
max_steps: int = -1  # optimizer steps (-1: from num_train_epochs)
per_device_train_batch_size: int = 32  # training batch size
learning_rate: float = 5e-5  # peak learning rate (AdamW)
warmup_ratio: float = 0.1  # share of steps warming up linearly
seed: int = 42  # seed for data order and the new head's initialisation
precision: str = "bf16"  # training, encoding and reranking precision: "fp32" or "bf16"
logging_steps: int = 10  # log the loss every this many steps
save_steps: int = 100  # checkpoint every this many steps
cells: list = [[6, 384], [6, 128], [3, 384], [3, 128], [1, 384]]  # bi-encoder (layer, dim) cells that retrieve
rerank_depths: list = [0, 1, 2, 3, 6]  # reranker depths (0: retrieval alone)
grid_depths: list = []  # reranker depths of the per-depth grid on the mined test pairs (empty: all)
top_n: int = 20  # candidates the reranker rescores per query
per_device_eval_batch_size: int = 32  # encoding and reranking batch size
eval_strategy: str = "no"  # "steps", "epoch" or "no": CE correlation on the mined test pairs
eval_steps: int = 50  # evaluate every this many steps
track_emissions: bool = True  # codecarbon offline tracker

# %%
import torch

from workbench.data import mining
from workbench.data.retrieval import load_retrieval
from workbench.evaluators import CECorrelationEvaluator
from workbench.evaluators import rerank_pipeline as pipe
from workbench.evaluators.pareto import cheapest_pipeline
from workbench.evaluators.reranker_grid import reranker_grid
from workbench.losses.adaptive_layer_ce import reranker_loss, reranker_pooling
from workbench.models.bi_encoder import BiEncoder
from workbench.models.cross_encoder import CrossEncoder
from workbench.models.encode_cache import EncodeCache
from workbench.recipes import artifacts, start
from workbench.reports import plots

run = start("rerank_pipeline", globals(), metric="spearman")
train_data = load_retrieval(data, "train", max_queries=run.limit("max_train_queries"),
                            max_corpus=run.limit("max_corpus"))
test_data = load_retrieval(data, "test", max_queries=run.limit("max_test_queries"),
                           max_corpus=run.limit("max_corpus"))
mine_cell = {"layer": mine_layer or None, "dim": mine_dim or None, "precision": precision,
             "batch_size": per_device_eval_batch_size}
selection = {"num_negatives": num_negatives, "range_min": range_min, "range_max": range_max,
             "relative_margin": relative_margin, "sampling": sampling}
print(f"{train_data}\n{test_data}")

# %% [markdown]
# ## Mining: SciFact train qrels -> labelled pairs with hard negatives

# %%
encoder = BiEncoder.from_pretrained(run.base_model)
cache = EncodeCache(encoder, sorted({c[0] for c in cells} | {mine_layer or encoder.num_layers}),
                    batch_size=per_device_eval_batch_size, precision=precision)  # one encode per text
queries, positives = mining.qrels_pairs(train_data.queries, train_data.corpus, train_data.relevant)
train_ds, mined = mining.mine_hard_negatives(
    queries, positives, cache, corpus=list(test_data.corpus.values()), **mine_cell, **selection,
    output_format="labeled-pair", columns=("query", "document"))
test_queries, test_positives = mining.qrels_pairs(test_data.queries, test_data.corpus, test_data.relevant)
test_ds, _ = mining.mine_hard_negatives(
    test_queries, test_positives, cache, corpus=list(test_data.corpus.values()), **mine_cell,
    **selection, output_format="labeled-pair", columns=("query", "document"))
mined

# %%
torch.manual_seed(seed)  # the new one-logit head is drawn at load time
reranker = CrossEncoder.from_pretrained(  # a saved reranker keeps its head's pooling
    reranker_model or run.base_model, max_length=max_length,
    pooling=None if reranker_model else reranker_pooling(variant, pooling))
if run.train_limit is not None:
    train_ds = train_ds.shuffle(seed=seed).select(range(min(run.train_limit, len(train_ds))))
if run.eval_limit is not None:
    test_ds = test_ds.shuffle(seed=seed).select(range(min(run.eval_limit, len(test_ds))))
run.describe(reranker.tokenizer, train=(train_ds, f"{data} train (mined)", "train"),
             eval=(test_ds, f"{data} test (mined)", "test"))

# %% [markdown]
# ## The reranker per depth before training (a new head: about random)

# %%
grid_before = reranker_grid(reranker, test_ds, grid_depths or None, per_device_eval_batch_size, precision)
grid_before

# %% [markdown]
# ## Training

# %%
loss = reranker_loss(reranker, variant)
evaluators = [CECorrelationEvaluator.from_dataset(test_ds, f"{data}-test-pairs",
                                                  batch_size=per_device_eval_batch_size)]
result = run.train(reranker, loss, train_ds, evaluators)

# %% [markdown]
# ## Retrieve then rerank on the test queries
# Every (bi-encoder cell, reranker depth) pair: nDCG@10, MRR@10 and the latency per query; the
# cheapest pipelines within 1% and 5% of the best.

# %%
grid_after = reranker_grid(reranker, test_ds, grid_depths or None, per_device_eval_batch_size, precision)
pipelines = pipe.pipeline_grid(cache, reranker, test_data, [tuple(c) for c in cells],
                               rerank_depths, top_n=top_n, batch_size=per_device_eval_batch_size,
                               precision=precision)
pipelines.to_csv(run.dir / "pipelines.csv", index=False)
run.extra_plots.append(artifacts.save_plot(run.dir, "pipelines", lambda ax: plots.pipelines(pipelines, ax=ax)))
for tol in (0.01, 0.05):
    print(f"cheapest within {tol:.0%} of the best:", cheapest_pipeline(pipelines, tol)[
        ["layer", "dim", "rerank_depth", "ndcg@10", "latency_ms_per_query"]].to_dict())
grid_after = run.evaluate(reranker, evaluators, result, grid_before, grid_after,
                          metrics=pipe.headline_metrics(pipelines, tuple(cells[0]), data))
pipelines

# %% [markdown]
# ## Plots, metric tables, saved model, metrics.json, card

# %%
run.finish(reranker, loss, result, grid_before, grid_after, kind="cross")
