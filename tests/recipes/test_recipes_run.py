"""The shared start of an experiment notebook: parameters from the namespace, never the file."""

from __future__ import annotations

import types

import pytest

from workbench.recipes import notebook_parameters, start


def test_notebook_parameters_are_the_declared_names_with_current_values():
    namespace = {"model": "tiny-bert", "seed": 3, "dims": [8, 4], "LOSSES": {"x": int},
                 "In": [""], "_": 1, "np": types, "helper": "not declared",
                 "__annotations__": {"model": str, "seed": int, "dims": list}}
    assert notebook_parameters(namespace) == {"model": "tiny-bert", "seed": 3, "dims": [8, 4]}
    with pytest.raises(ValueError, match="name: type = value"):
        notebook_parameters({"seed": 3})


def test_start_opens_the_run_folder_and_the_config(tmp_path, capsys):
    namespace = {"model": "minilm-l6", "preset": "custom", "out_dir": str(tmp_path / "run"),
                 "learning_rate": 2e-5, "max_train_samples": 40, "max_eval_samples": -1,
                 "resume_from_checkpoint": ""}
    namespace["__annotations__"] = {k: type(v) for k, v in namespace.items()}
    run = start("matryoshka_2d", namespace)
    assert run.dir == (tmp_path / "run").resolve() and run.dir.is_dir()
    assert run.config.output_dir == str(run.dir) and run.config.learning_rate == 2e-5
    assert (run.train_limit, run.eval_limit, run.resume_from) == (40, None, None)
    assert run.parameters.items() >= {k: v for k, v in namespace.items()
                                      if k != "__annotations__"}.items()
    assert run.base_model == "minilm-l6"
    assert str(run.dir) in capsys.readouterr().out


def test_start_checks_types_from_the_namespace_annotations(tmp_path):
    """The declared types come from the running notebook's annotations, not from its file."""
    from workbench.errors import ParameterError

    namespace = {"model": "minilm-l6", "preset": "custom", "out_dir": str(tmp_path / "run"),
                 "learning_rate": "fast"}
    namespace["__annotations__"] = {"model": str, "preset": str, "out_dir": str,
                                    "learning_rate": float}
    with pytest.raises(ParameterError, match="learning_rate"):
        start("matryoshka_2d", namespace)
    assert not (tmp_path / "run").exists()


def test_task_cuts_are_zero_shot_until_training_ran(tmp_path):
    """A re-run cell replaces its own cuts; only the cuts after ``train`` count as trained."""
    from workbench.recipes.run import Run
    from workbench.training.config import TrainConfig

    parameters = {"eval_tasks": [], "task_max_pairs": -1, "task_max_queries": -1,
                  "task_max_corpus": -1, "cut_precisions": ["fp32"], "cut_rescore": 0,
                  "task_encode_precision": "fp32", "max_corpus": 7}
    run = Run("matryoshka_2d", parameters, tmp_path, "tiny-bert", TrainConfig(output_dir=str(tmp_path)))
    run.grid_tasks(model=None)
    run.grid_tasks(model=None)
    assert list(run.cuts) == ["zero_shot"]
    run.result = object()
    run.grid_tasks(model=None)
    assert set(run.cuts) == {"zero_shot", "trained"}
    assert (run.limit("max_corpus"), run.limit("task_max_pairs"), run.train_limit) == (7, None, None)
