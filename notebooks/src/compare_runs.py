# %% [markdown]
# # Compare runs side by side
#
# The parameters that differ, the headline metrics, the layer x dim grids as small multiples on
# one colour scale, and every run's Pareto frontier (quality against measured latency) on one
# axis. `workbench compare RUN...` prints the same tables in the terminal.

# %% tags=["parameters"]
run_dirs: list = []  # run folders to compare; [] = the two most recent under WORKBENCH_RUNS

# %%
from workbench.reports import compare_plots
from workbench.runs import compare

runs = [compare.load_run(path) for path in (run_dirs or compare.latest_runs(2))]
[run.name for run in runs]

# %% [markdown]
# ## Parameters that differ

# %%
compare.differing_parameters(runs)

# %% [markdown]
# ## Headline metrics

# %%
compare.headline_metrics(runs)

# %% [markdown]
# ## Grids as small multiples

# %%
compare_plots.plot_grid_multiples(runs);

# %% [markdown]
# ## Pareto frontiers on one axis

# %%
compare_plots.plot_pareto_runs(runs);
