"""A run trained in parts (interrupted, resumed): each part's time, rows and energy, and totals.

A *part* is what one process trained: ``{"step_from", "step_to", "rows", "seconds",
"emissions"}``. Every checkpoint stores the parts up to itself (the running part cut at the
checkpoint), so a resumed run counts exactly the work its final model went through: the parts
before the checkpoint it resumed from, plus its own. Work done after that checkpoint by a
killed process is redone, and not counted twice.
"""

from __future__ import annotations

import time
from typing import Any

from workbench.training.emissions import EmissionsMeter, combine


class PartsClock:
    """Times this process's part on top of the ``previous`` parts (from a checkpoint)."""

    def __init__(self, meter: EmissionsMeter, previous: list[dict[str, Any]], step: int,
                 rows: int) -> None:
        self.meter = meter
        self.previous = [dict(p) for p in previous]
        self.step_from, self.rows_from = step, rows
        self.start = time.perf_counter()

    def part(self, step: int, rows: int, emissions: dict[str, Any]) -> dict[str, Any]:
        return {"step_from": self.step_from, "step_to": step, "rows": rows - self.rows_from,
                "seconds": time.perf_counter() - self.start, "emissions": emissions}

    def at_checkpoint(self, step: int, rows: int) -> list[dict[str, Any]]:
        """The parts a checkpoint at ``step`` records (this part measured so far)."""
        return [*self.previous, self.part(step, rows, self.meter.snapshot())]

    def finish(self, step: int, rows: int) -> list[dict[str, Any]]:
        """Every part, this one closed (stops the emissions meter)."""
        return [*self.previous, self.part(step, rows, self.meter.stop())]


def totals(parts: list[dict[str, Any]]) -> tuple[float, dict[str, Any]]:
    """Training seconds and the emissions of all ``parts`` added up."""
    return sum(p["seconds"] for p in parts), combine([p["emissions"] for p in parts])
