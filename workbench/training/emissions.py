"""Offline carbon tracking with codecarbon; a failure never stops training.

The country comes from ``WORKBENCH_COUNTRY`` (ISO 3166 alpha-3, default ``USA``, see
:mod:`workbench.settings`). No network is used (``OfflineEmissionsTracker``) and no file is
written unless an output folder is given (then ``emissions.csv`` goes there).
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

from workbench import settings


class EmissionsMeter:
    """Start/stop wrapper: ``stop()`` returns kWh, kg CO2, duration, hardware, or ``unknown``."""

    def __init__(self, output_dir: str | Path | None = None, country: str | None = None,
                 enabled: bool = True) -> None:
        self.country = country or settings.country_code()
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.enabled = enabled
        self.tracker: Any = None
        self.error: str | None = None if enabled else "disabled"
        self._start = time.perf_counter()

    def start(self) -> EmissionsMeter:
        self._start = time.perf_counter()
        if not self.enabled:
            return self
        try:
            self.tracker = _make_tracker(self.country, self.output_dir)
            self.tracker.start()
        except Exception as err:  # noqa: BLE001 - emissions must never break training
            self.tracker, self.error = None, f"{type(err).__name__}: {err}"
        return self

    def stop(self) -> dict[str, Any]:
        """The measured footprint; ``{"status": "unknown", "error": ...}`` if tracking failed."""
        return self._read(lambda t: (t.stop(), t.final_emissions_data)[1])

    def snapshot(self) -> dict[str, Any]:
        """The footprint so far, tracking going on (what a checkpoint records of its part).
        codecarbon has no public "so far": this measures now and reads its running totals."""
        return self._read(lambda t: (t._measure_power_and_energy(),
                                     t._prepare_emissions_data())[1])

    def _read(self, get: Any) -> dict[str, Any]:
        duration = time.perf_counter() - self._start
        if self.tracker is None:
            return {"status": "unknown", "error": self.error, "duration_s": duration}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return _as_dict(get(self.tracker))
        except Exception as err:  # noqa: BLE001 - emissions must never break training
            return {"status": "unknown", "error": f"{type(err).__name__}: {err}",
                    "duration_s": duration}


def _as_dict(data: Any) -> dict[str, Any]:
    return {
        "status": "ok", "energy_kwh": float(data.energy_consumed),
        "emissions_kg": float(data.emissions), "duration_s": float(data.duration),
        "hours": float(data.duration) / 3600.0, "cpu_model": data.cpu_model,
        "gpu_model": data.gpu_model or None, "gpu_count": data.gpu_count,
        "ram_gb": float(data.ram_total_size), "country": data.country_iso_code,
        "on_cloud": data.on_cloud,
    }


ADDITIVE = ("energy_kwh", "emissions_kg", "duration_s", "hours")


def combine(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One footprint for a run trained in several parts (resumed): the additive quantities
    summed, the rest from the last part; ``status`` is ``ok`` only if every part was measured."""
    if not parts:
        return {"status": "unknown", "error": "no part measured"}
    total = dict(parts[-1])
    for key in ADDITIVE:
        values = [p.get(key) for p in parts]
        total[key] = sum(values) if all(v is not None for v in values) else None
    bad = [p.get("error") for p in parts if p.get("status") != "ok"]
    if bad:
        total.update(status="unknown", error=f"{len(bad)} of {len(parts)} parts not measured: "
                     f"{bad[0]}")
    total["parts"] = len(parts)
    return total


def _make_tracker(country: str, output_dir: Path | None) -> Any:
    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    kwargs: dict[str, Any] = {"save_to_file": output_dir is not None}
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        kwargs["output_dir"] = str(output_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return OfflineEmissionsTracker(country_iso_code=country, log_level="error",
                                       project_name="workbench", measure_power_secs=15,
                                       allow_multiple_runs=True, **kwargs)
