"""A model zipped and split over packages: found with importlib, assembled once, hash-checked.

Runs on a tiny fake split zip installed as three fake distributions on ``sys.path`` (the real
all-mpnet-base-v2 parts are ~440 MB and never part of ``make test``)."""

from __future__ import annotations

import hashlib
import io
import sys
import zipfile
from pathlib import Path

import pytest

from workbench.models import split_zip
from workbench.models.split_zip import SplitZipError, SplitZipModel

WEIGHTS = b"not really safetensors" * 100


def _fake_parts(root: Path, n: int = 3) -> tuple[str, ...]:
    """Install ``n`` fake distributions, each holding one ``input/fake.zip.00N`` part."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fake-model/config.json", '{"model_type": "bert"}')
        archive.writestr("fake-model/model.safetensors", WEIGHTS)
    data = buffer.getvalue()
    size = -(-len(data) // n)
    names = []
    for i in range(1, n + 1):
        name, pkg = f"fake-split-part-{i:03d}", f"fake_split_part_{i:03d}"
        rel = f"{pkg}/input/fake.zip.{i:03d}"
        (root / pkg / "input").mkdir(parents=True)
        (root / rel).write_bytes(data[(i - 1) * size:i * size])
        info = root / f"{pkg}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"{rel},,\n{info.name}/METADATA,,\n")
        names.append(name)
    return tuple(names)


@pytest.fixture()
def fake(tmp_path, monkeypatch) -> SplitZipModel:
    site = tmp_path / "site"
    site.mkdir()
    packages = _fake_parts(site)
    monkeypatch.syspath_prepend(str(site))
    return SplitZipModel("fake-model", packages, hashlib.sha256(WEIGHTS).hexdigest())


def test_parts_are_found_assembled_and_checked(fake, tmp_path):
    parts = split_zip.part_files(fake)
    assert [p.name for p in parts] == ["fake.zip.001", "fake.zip.002", "fake.zip.003"]
    folder = split_zip.split_zip_model_dir(fake, cache=tmp_path / "cache")
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert folder.is_relative_to(tmp_path / "cache")
    assert not list((tmp_path / "cache").glob(".fake-model-*"))  # no temporary left behind


def test_assembled_once(fake, tmp_path, monkeypatch):
    first = split_zip.split_zip_model_dir(fake, cache=tmp_path / "cache")
    monkeypatch.setattr(split_zip.zipfile, "ZipFile", None)  # a second extraction would fail
    assert split_zip.split_zip_model_dir(fake, cache=tmp_path / "cache") == first


def test_wrong_hash_is_refused_and_leaves_nothing(fake, tmp_path):
    bad = SplitZipModel(fake.name, fake.packages, "0" * 64)
    with pytest.raises(SplitZipError, match="sha256"):
        split_zip.split_zip_model_dir(bad, cache=tmp_path / "cache")
    assert not (tmp_path / "cache" / "fake-model").exists()


def test_missing_packages_are_named(fake, monkeypatch):
    monkeypatch.setattr(sys, "path", [p for p in sys.path if not p.endswith("site")])
    with pytest.raises(SplitZipError) as err:
        split_zip.part_files(fake)
    for package in fake.packages:
        assert package in str(err.value)
    assert "make setup-large" in str(err.value)


def test_cache_folder_setting(monkeypatch, tmp_path):
    from workbench import settings

    monkeypatch.setenv(settings.CACHE_ENV, str(tmp_path / "c"))
    assert settings.cache_dir() == tmp_path / "c"
    monkeypatch.delenv(settings.CACHE_ENV)
    assert settings.cache_dir() == Path("~/.cache/workbench").expanduser()
