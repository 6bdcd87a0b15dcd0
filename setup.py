"""Packages of the wheel: ``workbench*``, plus the top-level ``notebooks/`` shipped as
``workbench/notebooks`` (package data: the notebooks and their sources). The source tree keeps
the notebooks at the top level, where JupyterLab users open them; ``workbench.runs.execute``
looks in both places. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["workbench", "workbench.*"]), "workbench.notebooks"],
      package_dir={"workbench.notebooks": "notebooks"})
