"""Recipes: the building blocks of the experiment notebooks (the shared start and finish of a
run, the data summaries, tables and plots a run folder holds)."""
