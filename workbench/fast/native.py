"""Native kernels: C++ sources shipped in ``workbench/fast/kernels/``, built once per machine.

A kernel is compiled by the system's C++ compiler (``$CXX``, else ``c++``/``g++``/``clang++``)
into a shared library cached under ``$WORKBENCH_CACHE/native`` (default
``~/.cache/workbench/native``), named by a hash of the source, the compiler's version, the flags
and the processor's model and feature flags (``-march=native`` code must never run on another
processor), and loaded with :mod:`ctypes`: no torch headers, about a second to build. Where no
compiler is found or the build fails, :func:`library` returns ``None`` and logs why once;
callers then keep their torch path. ``WORKBENCH_NATIVE=0`` turns every native kernel off.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("workbench.fast")

KERNELS = Path(__file__).parent / "kernels"
FLAGS = (["-O3", "-march=native", "-fopenmp"], ["-O3", "-fopenmp"], ["-O3", "-march=native"],
         ["-O3"])
"""Tried in order: tuned for this processor, then portable (compilers without ``-march=native``),
then both without OpenMP (one thread; e.g. Apple's clang)."""
COMMON = ["-std=c++17", "-shared", "-fPIC", "-fno-math-errno"]


def enabled() -> bool:
    """False when ``WORKBENCH_NATIVE`` is ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get("WORKBENCH_NATIVE", "1").strip().lower() not in {"0", "false", "no", "off"}


def library(name: str) -> ctypes.CDLL | None:
    """The built ``kernels/<name>.cpp`` (``None``: native kernels off, or no build; logged)."""
    return _library(name) if enabled() else None


def function(name: str, symbol: str, argtypes: list) -> Callable[..., int] | None:
    """``symbol`` of the built ``kernels/<name>.cpp`` as a C function of ``argtypes`` returning
    an ``int`` status (``None``: native kernels off, or no build)."""
    lib = library(name)
    if lib is None:
        return None
    found = getattr(lib, symbol)
    found.argtypes, found.restype = argtypes, ctypes.c_int
    return found


@functools.cache
def _library(name: str) -> ctypes.CDLL | None:
    source = KERNELS / f"{name}.cpp"
    compiler = _compiler()
    if compiler is None:
        log.info("native kernel %s: no C++ compiler found ($CXX, c++, g++, clang++); "
                 "using the torch path", name)
        return None
    errors: list[str] = []
    for flags in FLAGS:
        try:  # an unwritable cache or a compiler that will not run: the next flags, then torch
            lib = _load(source, compiler, flags, errors)
        except (OSError, subprocess.SubprocessError) as error:
            errors.append(f"{' '.join(flags)}: {error}")
            continue
        if lib is not None:
            return lib
    log.warning("native kernel %s could not be built, using the torch path: %s", name,
                "; ".join(errors)[-2000:])
    return None


def _load(source: Path, compiler: str, flags: list[str], errors: list[str]) -> ctypes.CDLL | None:
    """The library built from ``source`` with ``flags``, from the cache or built now; a cached
    file that does not load (a copy cut short) is rebuilt once."""
    target = _cache() / f"{source.stem}-{_key(source, compiler, flags)}.so"
    built = target.exists() or _build(source, compiler, flags, target, errors)
    for attempt in range(2 if built else 0):
        try:
            return ctypes.CDLL(str(target))
        except OSError as error:
            errors.append(f"{target}: {error}")
            if attempt or not _build(source, compiler, flags, target, errors):
                break
    return None


def _compiler() -> str | None:
    names = [os.environ["CXX"]] if os.environ.get("CXX") else ["c++", "g++", "clang++"]
    return next((path for path in map(shutil.which, names) if path), None)


def _cache() -> Path:
    root = os.environ.get("WORKBENCH_CACHE") or Path.home() / ".cache" / "workbench"
    path = Path(root) / "native"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _key(source: Path, compiler: str, flags: list[str]) -> str:
    """Hash of what the built library depends on (source and headers, compiler, flags,
    processor)."""
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True,
                             timeout=60).stdout
    headers = [path.read_text() for path in sorted(KERNELS.glob("*.h"))]
    parts = [source.read_text(), *headers, compiler, version, " ".join(flags + COMMON),
             platform.machine(), _processor()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _processor() -> str:
    """The processor's model and feature flags (Linux), else what :mod:`platform` says."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    wanted = ("model name", "flags", "Features", "CPU part")
    return "\n".join(sorted({line for line in lines if line.startswith(wanted)}))


def _build(source: Path, compiler: str, flags: list[str], target: Path,
           errors: list[str]) -> bool:
    """Compile into a temporary file, then move it into place (safe against a parallel build)."""
    fd, scratch = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    command = [compiler, *flags, *COMMON, str(source), "-o", scratch]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as error:
        done = None
        errors.append(f"{' '.join(command)}: {error}")
    if done is not None and done.returncode == 0:
        os.replace(scratch, target)
        log.info("native kernel built: %s (%s)", target, " ".join(flags))
        return True
    if done is not None:
        errors.append(f"{' '.join(command)}: exit {done.returncode}: {done.stderr.strip()}")
    Path(scratch).unlink(missing_ok=True)
    return False
