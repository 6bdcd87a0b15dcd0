"""The table of bad inputs (issue 12): each is refused by the ``workbench`` command with a non-zero
exit code and one clean line naming the culprit, before any work, with no traceback and no file of
earlier work changed. The CLI runs in-process; every refusal happens before papermill starts."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from workbench.cli import main as cli
from workbench.errors import ParameterError
from workbench.runs import execute as runs
from workbench.training import checkpoint as ckpt

STS_HEADER = "sentence1,sentence2,score\n"
GOOD_ROWS = "".join(f"a man plays {i},a man is playing {i},0.{i}\n" for i in range(6))


@dataclass
class Ctx:
    """What the cases point at: shared finished work and a folder for each case's own files."""

    model: Path
    finished: Path
    interrupted: Path
    tmp: Path

    def file(self, name: str, content: str | bytes) -> str:
        path = self.tmp / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(path)

    def empty_dir(self, name: str) -> str:
        (self.tmp / name).mkdir()
        return str(self.tmp / name)

    def model_copy(self, keep: tuple[str, ...] | None = None) -> Path:
        folder = self.tmp / "model-copy"
        shutil.copytree(self.model, folder)
        for file in folder.iterdir():
            if keep is not None and file.name not in keep:
                file.unlink() if file.is_file() else shutil.rmtree(file)
        return folder


def _finished_run(root: Path, model: Path) -> Path:
    from run_factory import make_run_folder

    run = make_run_folder(root, model)
    params = {**runs.resolve_parameters("matryoshka_2d", "smoke"), "out_dir": str(run)}
    record = {"experiment": "matryoshka_2d", "preset": "smoke", "parameters": params,
              "status": "ok"}
    (run / runs.RUN_FILE).write_text(json.dumps(record))
    (run / "notebook.ipynb").write_text("{}")
    return run


def _interrupted_run(root: Path, model: Path) -> Path:
    """A failed matryoshka_2d smoke run with checkpoints at steps 2 and 4, step 4 truncated."""
    from workbench.models.bi_encoder import BiEncoder

    run = root / "interrupted"
    run.mkdir()
    encoder = BiEncoder.from_pretrained(model)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-4)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    for step in (2, 4):
        ckpt.save_checkpoint(run, step, encoder, optimizer, scheduler, {"global_step": step})
    state = run / "checkpoint-4" / ckpt.STATE_NAME
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    params = {**runs.resolve_parameters("matryoshka_2d", "smoke"), "out_dir": str(run)}
    record = {"experiment": "matryoshka_2d", "preset": "smoke", "parameters": params,
              "status": "failed", "failure": {"cell_index": 7, "ename": "KeyboardInterrupt"}}
    (run / runs.RUN_FILE).write_text(json.dumps(record))
    (run / "notebook.ipynb").write_text("{}")
    return run


@pytest.fixture(scope="module")
def shared(tiny_bert_dir, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("earlier-work")
    return {"model": tiny_bert_dir, "finished": _finished_run(root, tiny_bert_dir),
            "interrupted": _interrupted_run(root, tiny_bert_dir)}


def _hashes(*folders: Path) -> dict[str, str]:
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest()
            for folder in folders for f in sorted(folder.rglob("*")) if f.is_file()} | {
        str(d): "dir" for folder in folders for d in folder.rglob("*") if d.is_dir()}


Case = tuple[str, Callable[[Ctx], list[str]], tuple[str, ...]]
RUN = ["run", "matryoshka_2d", "--preset", "smoke", "--quiet"]


def _grid(data: Callable[[Ctx], str], *extra: str) -> Callable[[Ctx], list[str]]:
    return lambda c: ["grid", str(c.model), "--data", data(c), "--no-latency", *extra,
                      "--out", str(c.tmp / "grid-out")]


def _param(name: str, value: str) -> Callable[[Ctx], list[str]]:
    return lambda c: [*RUN, "-p", name, value]


def _random_bytes(n: int = 4096) -> bytes:
    return random.Random(0).randbytes(n)


def _pickle_only(c: Ctx) -> str:
    folder = c.model_copy(keep=("config.json", "vocab.txt", "tokenizer.json",
                                "tokenizer_config.json", "special_tokens_map.json"))
    torch.save({"w": torch.zeros(2)}, folder / "pytorch_model.bin")
    return str(folder)


def _damaged_weights(cut: bool) -> Callable[[Ctx], str]:
    def make(c: Ctx) -> str:
        folder = c.model_copy()
        weights = folder / "model.safetensors"
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2] if cut else b"\x10\x00\x00\x00\x00\x00\x00\x00"
                            + b"not json at all!" + data[24:])
        return str(folder)
    return make


def _corrupt_metrics(c: Ctx) -> str:
    run = c.tmp / "corrupt-run"
    shutil.copytree(c.finished, run)
    (run / "metrics.json").write_text('{"experiment": "matryoshka_2d", "metr')
    return str(run)


def _read_only(c: Ctx) -> str:
    if Path("/sys").is_dir() and os.geteuid() == 0:  # root writes through chmod; /sys refuses
        return "/sys/workbench-read-only/run"
    folder = c.tmp / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    return str(folder / "run")


DATA_CASES: list[Case] = [
    ("missing-column", _grid(lambda c: c.file("nocol.csv", "sentence1,sentence2\na,b\n")),
     ("nocol.csv", "'score'")),
    ("empty-text", _grid(lambda c: c.file("empty.csv", STS_HEADER + GOOD_ROWS + '"",b,0.5\n')),
     ("empty.csv", "sentence1", "row 6")),
    ("whitespace-text", _grid(lambda c: c.file("ws.csv", STS_HEADER + GOOD_ROWS + 'a,"   ",0.5\n')),
     ("ws.csv", "sentence2", "row 6", "'   '")),
    ("score-0-5", _grid(lambda c: c.file("five.csv", STS_HEADER + "a,b,4.2\nc,d,1.0\n")),
     ("five.csv", "row 0", "4.2", "0-5 scale")),
    ("score-negative", _grid(lambda c: c.file("neg.csv", STS_HEADER + GOOD_ROWS + "a,b,-0.5\n")),
     ("neg.csv", "row 6", "-0.5")),
    ("score-nan", _grid(lambda c: c.file("nan.csv", STS_HEADER + GOOD_ROWS + "a,b,nan\n")),
     ("nan.csv", "row 6", "nan")),
    ("score-inf", _grid(lambda c: c.file("inf.csv", STS_HEADER + GOOD_ROWS + "a,b,inf\n")),
     ("inf.csv", "row 6", "inf")),
    ("score-not-a-number", _grid(lambda c: c.file("abc.csv", STS_HEADER + GOOD_ROWS + "a,b,abc\n")),
     ("abc.csv", "row 6", "'abc'", "not a number")),
    ("header-only", _grid(lambda c: c.file("header.csv", STS_HEADER)), ("header.csv", "no rows")),
    ("zero-bytes", _grid(lambda c: c.file("zero.csv", b"")), ("zero.csv", "0 bytes")),
    ("random-csv", _grid(lambda c: c.file("random.csv", _random_bytes())), ("random.csv",)),
    ("random-parquet", _grid(lambda c: c.file("random.parquet", _random_bytes())),
     ("random.parquet", "Parquet")),
    ("latin-1", _grid(lambda c: c.file("latin.csv", (STS_HEADER + GOOD_ROWS + "café,b,0.5\n")
                                       .encode("latin-1"))), ("latin.csv", "line 8", "UTF-8")),
    ("missing-file", _grid(lambda c: str(c.tmp / "nope.csv")), ("no such file", "nope.csv")),
    ("txt-file", _grid(lambda c: c.file("data.txt", "a b 0.5\n")), ("data.txt", "'.txt'")),
    ("json-file", _grid(lambda c: c.file("data.json", "[]")), ("data.json", "'.json'")),
    ("folder-as-data", _grid(lambda c: str(c.tmp)), ("is a folder",)),
    ("max-samples-0", _grid(lambda c: "stsb", "--max-samples", "0"), ("--max-samples", "0")),
    ("max-samples-negative", _grid(lambda c: "stsb", "--max-samples", "-3"),
     ("--max-samples", "-3")),
    ("nli-by-name", _grid(lambda c: "snli", "--split", "validation"),
     ("snli/validation", "NLI", "not similarity scores")),
    ("nli-by-file", _grid(lambda c: c.file("nli.csv", "premise,hypothesis,label\na,b,0\nc,d,2\n")),
     ("nli.csv", "NLI", "not similarity scores")),
    ("nli-label-7", _grid(lambda c: c.file("seven.csv", "premise,hypothesis,label\na,b,0\nc,d,7\n")),
     ("seven.csv", "'label'", "row 1", "7")),
    ("nli-label-words", _grid(lambda c: c.file("words.csv",
                                               "premise,hypothesis,label\na,b,entailment\n")),
     ("words.csv", "row 0", "'entailment'", "written as a word")),
]

MODEL_CASES: list[Case] = [
    ("model-missing", lambda c: ["grid", str(c.tmp / "no-model"), "--no-latency"],
     ("no-model", "does not exist")),
    ("model-empty", lambda c: ["grid", c.empty_dir("empty-model"), "--no-latency"], ("empty-model", "empty")),
    ("model-pickle-only", lambda c: ["grid", _pickle_only(c), "--no-latency"],
     ("model-copy", "safetensors")),
    ("safetensors-truncated", lambda c: ["grid", _damaged_weights(True)(c), "--no-latency"],
     ("model.safetensors", "truncated")),
    ("safetensors-garbled", lambda c: ["grid", _damaged_weights(False)(c), "--no-latency"],
     ("model.safetensors", "garbled")),
    ("dims-above-width", lambda c: ["grid", str(c.model), "--dims", "64", "--no-latency"],
     ("dimension 64", "32 dims")),
    ("dims-0", lambda c: ["grid", str(c.model), "--dims", "0", "--no-latency"], ("dimension 0",)),
    ("dims-negative", lambda c: ["grid", str(c.model), "--dims", "-8", "--no-latency"],
     ("dimension -8",)),
    ("grid-layers-deep", lambda c: ["grid", str(c.model), "--layers", "9", "--no-latency"],
     ("layer 9", "1..3")),
    ("grid-layers-0", lambda c: ["grid", str(c.model), "--layers", "0", "--no-latency"], ("layer 0",)),
    ("grid-layers-negative", lambda c: ["grid", str(c.model), "--layers", "-1", "--no-latency"],
     ("layer -1",)),
    *[(f"export-layers-{k}", lambda c, k=k: ["export", str(c.model), "--layers", k, "--out",
                                             str(c.tmp / "cut")], (f"layer {k}", "1..3"))
      for k in ("9", "0", "-1")],
]

PARAMETER_CASES: list[Case] = [
    ("param-unknown", _param("learnig_rate", "1e-4"), ("learnig_rate", "learning_rate")),
    ("lr-abc", _param("learning_rate", "abc"), ("learning_rate", "'abc'", "a number")),
    ("lr-negative-e", _param("learning_rate", "-1e-4"), ("learning_rate", "-0.0001", ">= 0")),
    ("lr-negative-dec", _param("learning_rate", "-0.0001"), ("learning_rate", "-0.0001", ">= 0")),
    ("lr-1e999", _param("learning_rate", "1e999"), ("learning_rate", "inf", "finite")),
    ("batch-0", _param("per_device_train_batch_size", "0"), ("per_device_train_batch_size", "0")),
    ("batch-above-data", _param("per_device_train_batch_size", "64"),
     ("per_device_train_batch_size=64", "max_train_samples=32")),
    ("warmup-1.5", _param("warmup_ratio", "1.5"), ("warmup_ratio", "1.5", "[0, 1]")),
    ("eval-strategy", _param("eval_strategy", "sometimes"), ("eval_strategy", "'sometimes'", "steps")),
    ("max-train-samples-0", _param("max_train_samples", "0"), ("max_train_samples", "0")),
    ("max-steps-0", _param("max_steps", "0"), ("max_steps", "0")),
    ("max-steps-2.5", _param("max_steps", "2.5"), ("max_steps", "2.5", "integer")),
    ("eval-steps-0", _param("eval_steps", "0"), ("eval_steps", "0")),
    ("dims-unsorted", _param("matryoshka_dims", "[8,16,32]"), ("matryoshka_dims", "largest first")),
    ("dims-duplicated", _param("matryoshka_dims", "[32,16,16]"), ("matryoshka_dims", "duplicates")),
    ("dims-empty", _param("matryoshka_dims", "[]"), ("matryoshka_dims", "non-empty")),
    ("dims-above-width", _param("matryoshka_dims", "[64,32]"), ("matryoshka_dims", "width 32")),
    ("variant-unknown", _param("variant", "3d"), ("variant", "'3d'", "starbucks")),
    ("out-dir-reserved", _param("out_dir", "/tmp/x"), ("out_dir", "--out")),
    ("resume-from-nothing", lambda c: [*RUN, "-p", "resume_from_checkpoint", str(c.tmp)],
     ("resume_from_checkpoint", "no checkpoint there")),
    ("param-model-missing", lambda c: [*RUN, "-p", "model", str(c.tmp / "gone")],
     ("gone", "does not exist")),
]
if not torch.cuda.is_available():  # on a GPU machine fp16 is legitimate
    PARAMETER_CASES.append(("fp16-on-cpu", _param("precision", "fp16"), ("fp16", "CUDA")))

FOLDER_CASES: list[Case] = [
    ("out-finished-same", lambda c: [*RUN, "--out", str(c.finished)],
     ("not empty", "--resume", "matryoshka_2d")),
    ("out-finished-other", lambda c: ["run", "adaptive_layer", "--preset", "smoke", "--out",
                                      str(c.finished)], ("not empty", "--resume")),
    ("out-read-only", lambda c: [*RUN, "--out", _read_only(c)], ("read-only/run", "cannot write")),
    ("out-is-file", lambda c: [*RUN, "--out", c.file("a-file", "x")], ("a-file", "existing file")),
    ("export-over-source", lambda c: ["export", str(c.finished / "model"), "--layers", "2",
                                      "--out", str(c.finished / "model")], ("source model",)),
    ("export-into-nonempty", lambda c: ["export", str(c.model), "--layers", "2", "--out",
                                        str(c.finished)], ("not empty",)),
    ("resume-missing", lambda c: [*RUN, "--resume", str(c.tmp / "gone")],
     ("gone", "no such run folder")),
    ("resume-no-run-json", lambda c: [*RUN, "--resume", c.empty_dir("plain")],
     ("plain", "no run.json")),
    ("resume-truncated-checkpoint", lambda c: [*RUN, "--resume", str(c.interrupted)],
     ("checkpoint-4", "truncated", "checkpoint-2", "resume_from_checkpoint")),
    ("resume-other-experiment", lambda c: ["run", "adaptive_layer", "--resume", str(c.interrupted)],
     ("'matryoshka_2d'", "not 'adaptive_layer'")),
    ("resume-finished", lambda c: [*RUN, "--resume", str(c.finished)], ("already finished",)),
    *[(f"sweep-grid-{i}", lambda c, g=g: ["sweep", "matryoshka_2d", "--preset", "smoke", "--grid", g],
       needles) for i, (g, needles) in enumerate([
           ("learning_rate", ("'learning_rate'", "NAME=V1,V2")),
           ("learning_rate=", ("'learning_rate='", "NAME=V1,V2")),
           ("matryoshka_dims=[32,16", ("matryoshka_dims=[32,16", "brackets")),
           ("learning_rate=1e-4,abc", ("learning_rate", "'abc'"))])],
    ("sweep-unknown-preset", lambda c: ["sweep", "matryoshka_2d", "--preset", "gpu-huge", "--grid",
                                        "learning_rate=1e-4,2e-4"], ("gpu-huge",)),
    ("compare-missing", lambda c: ["compare", str(c.finished), str(c.tmp / "gone")],
     ("gone", "no such run folder")),
    ("compare-failed", lambda c: ["compare", str(c.finished), str(c.interrupted)],
     ("interrupted", "failed")),
    ("compare-corrupt", lambda c: ["compare", str(c.finished), _corrupt_metrics(c)],
     ("corrupt-run/metrics.json", "not valid JSON")),
    *[(f"export-{flag[2:]}-0", lambda c, flag=flag: ["export", str(c.model), "--layers", "2",
                                                     "--out", str(c.tmp / "cut"), flag, "0"],
       (flag, "0")) for flag in ("--batch-size", "--repeats", "--sample")],
]

CASES = DATA_CASES + MODEL_CASES + PARAMETER_CASES + FOLDER_CASES


@pytest.mark.parametrize(("argv", "needles"), [(a, n) for _, a, n in CASES],
                         ids=[name for name, _, _ in CASES])
def test_bad_input_is_refused_cleanly_before_any_work(argv, needles, shared, tmp_path, capsys,
                                                      monkeypatch):
    runs_root = tmp_path / "runs-root"
    monkeypatch.setenv("WORKBENCH_RUNS", str(runs_root))
    case_dir = tmp_path / "case"
    case_dir.mkdir()
    ctx = Ctx(tmp=case_dir, **shared)
    args = argv(ctx)
    before = _hashes(*shared.values())
    code = cli.main(args)
    out, err = capsys.readouterr()
    assert code != 0, out
    assert "Traceback" not in out + err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    assert _hashes(*shared.values()) == before  # no earlier work changed
    assert not runs_root.exists()  # no run folder was started
    for name in ("cut", "grid-out"):
        assert not (case_dir / name).exists()  # nothing written


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(Exception, match="learning_rate"):
        cli.main(["--debug", *RUN, "-p", "learning_rate", "abc"])


def test_resume_offer_is_usable(shared, tmp_path):
    """The checkpoint the refusal offers passes the checks (the plan resumes from it)."""
    run = tmp_path / "interrupted"
    shutil.copytree(shared["interrupted"], run)
    good = run / "checkpoint-2"
    planned, record = runs.plan_run("matryoshka_2d", None, {"resume_from_checkpoint": str(good)},
                                    resume=run)
    assert planned == run.resolve() and record["parameters"]["resume_from_checkpoint"] == str(good)
    assert ckpt.check_checkpoint(good) is None and ckpt.check_checkpoint(run / "checkpoint-4")


def test_legitimate_values_pass_the_checks():
    """The checks refuse what is wrong, not what is unusual: -1 (all), lr 0, [32] and fp32 pass."""
    full = runs.check_parameters("matryoshka_2d", {
        **runs.resolve_parameters("matryoshka_2d", "smoke"), "max_train_samples": -1,
        "learning_rate": 0.0, "matryoshka_dims": [32], "max_steps": 3, "eval_strategy": "no"})
    assert full["matryoshka_dims"] == [32] and full["variant"] == "2d"


@pytest.mark.parametrize("experiment", ["adaptive_layer", "matryoshka_2d", "bce_reranker"])
def test_notebook_checks_its_parameters_before_loading_anything(experiment):
    """Interactive use gets the same refusal: the first code cell after the parameters cell runs
    ``recipes.start``, which runs ``check_parameters``, before any data or model is loaded."""
    import nbformat

    cells = nbformat.read(runs.notebook_path(experiment), as_version=4).cells
    start = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    first = next(c for c in cells[start + 1:] if c.cell_type == "code")
    assert f'start("{experiment}", globals()' in first.source
    assert "load_dataset" not in first.source and "from_pretrained" not in first.source
    with pytest.raises(ParameterError, match="learning_rate=-1.0"):
        runs.check_parameters(experiment, {"learning_rate": -1.0})
