"""The shared start of an experiment notebook: parameters from the namespace, never the file."""

from __future__ import annotations

import types

from workbench.recipes import notebook_parameters, start


def test_notebook_parameters_keep_plain_values_only():
    namespace = {"model": "tiny-bert", "seed": 3, "dims": [8, 4], "resume": "", "flag": True,
                 "nothing": None, "In": [""], "Out": {}, "_": 1, "_i2": "x", "np": types,
                 "load": len, "get_ipython": print}
    assert notebook_parameters(namespace) == {"model": "tiny-bert", "seed": 3, "dims": [8, 4],
                                              "resume": "", "flag": True, "nothing": None}


def test_start_opens_the_run_folder_and_the_config(tmp_path, capsys):
    namespace = {"model": "minilm-l6", "preset": "custom", "out_dir": str(tmp_path / "run"),
                 "learning_rate": 2e-5, "max_train_samples": 10, "max_eval_samples": -1,
                 "resume_from_checkpoint": ""}
    run = start("matryoshka_2d", namespace)
    assert run.dir == (tmp_path / "run").resolve() and run.dir.is_dir()
    assert run.config.output_dir == str(run.dir) and run.config.learning_rate == 2e-5
    assert (run.train_limit, run.eval_limit, run.resume_from) == (10, None, None)
    assert run.parameters == namespace and run.base_model == "minilm-l6"
    assert str(run.dir) in capsys.readouterr().out
