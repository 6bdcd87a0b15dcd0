"""Data files (.parquet, .csv) read with errors that name the path and what is wrong with it.

A missing path, a folder, another file type, an empty (0-byte) file, a file that is not Parquet
or CSV, and CSV text that is not UTF-8 (named with its line) are refused before any row is used.
"""

from __future__ import annotations

from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from workbench.data.validation import DataValidationError

SUFFIXES = (".parquet", ".csv")


def looks_like_path(name: str) -> bool:
    """Whether ``name`` means a file or folder rather than a dataset name (suffix, slash, exists)."""
    path = Path(name).expanduser()
    return bool(path.suffix) or "/" in name or "\\" in name or path.exists()


def check_data_file(path: Path, not_found: type[Exception] = FileNotFoundError) -> None:
    """Refuse a path that is not an existing, non-empty .parquet or .csv file."""
    if not path.exists():
        raise not_found(f"no such file: {path} (data files are .parquet or .csv)")
    if path.is_dir():
        raise DataValidationError(f"{path} is a folder; pass a .parquet or .csv file, or a "
                                  "dataset name (stsb, snli, mnli, allnli)")
    if path.suffix.lower() not in SUFFIXES:
        raise DataValidationError(f"{path}: unsupported file type '{path.suffix}'; data files "
                                  f"are {' or '.join(SUFFIXES)}")
    if path.stat().st_size == 0:
        raise DataValidationError(f"{path} is empty (0 bytes)")


def _check_utf8(path: Path) -> None:
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        bad = raw[err.start:err.start + 1].hex()
        raise DataValidationError(
            f"{path} line {line} (row {line - 2}) is not UTF-8 text (byte 0x{bad} at offset "
            f"{err.start}); re-save the file as UTF-8") from None


def read_data_file(path: str | Path, not_found: type[Exception] = FileNotFoundError
                   ) -> datasets.Dataset:
    """A .parquet or .csv file as a ``datasets.Dataset``, refused with the path when unreadable."""
    path = Path(path).expanduser()
    check_data_file(path, not_found)
    if path.suffix.lower() == ".csv":
        _check_utf8(path)
    try:
        table = pq.read_table(path) if path.suffix.lower() == ".parquet" else pa_csv.read_csv(path)
    except (pa.ArrowException, OSError) as err:
        kind = "Parquet" if path.suffix.lower() == ".parquet" else "CSV"
        raise DataValidationError(f"{path} cannot be read as {kind}: {str(err)[:200]}") from err
    return datasets.Dataset(table)
