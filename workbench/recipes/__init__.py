"""Recipes: the building blocks of the experiment notebooks. ``start(experiment, globals())``
opens a run from the notebook's parameters; ``Run.describe / evaluate / finish`` hold the shared
dataset summaries and the plots -> tables -> metrics -> card finish (``run.py``); ``artifacts``
turns library objects into the run folder's files."""

from __future__ import annotations

from workbench.recipes.run import Run, notebook_parameters, start

__all__ = ["Run", "notebook_parameters", "start"]
