# %% [markdown]
# # Trade-off explorer: pick the cheapest (layers, dims) cell that is good enough
#
# Give it a run folder (or two, to compare). Move the **layers** and **dims** sliders, or click a
# cell of the heatmap: the view shows that cell's metrics, measured latency, bytes per vector,
# quality retained against the full model, and the cosine similarity of a few evaluation pairs
# encoded by the run's `model/` cut to that cell. **Export this cell** writes a standalone
# model (`workbench.models.export.export_cut`) to `<run>/exports/L<layers>-d<dims>/`.

# %% tags=["parameters"]
run_dir: str = ""  # run folder to explore; "" = the most recent run under WORKBENCH_RUNS
compare_dir: str = ""  # optional second run folder shown side by side; "" = none

# %%
from workbench.reports.plots import pareto
from workbench.reports.widgets import TradeoffExplorer
from workbench.runs.compare import latest_runs, load_run

chosen_run = run_dir or str(latest_runs(1)[-1])
explorer = TradeoffExplorer(chosen_run, compare_dir=compare_dir or None)
explorer

# %% [markdown]
# The Pareto frontier of the same grid: quality against measured latency, with the cheapest
# cells within 1% and 5% of the full model marked.

# %%
pareto(load_run(chosen_run).grid);
