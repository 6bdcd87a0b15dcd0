"""Evaluation inside the loop: evaluators, validation loss, the collapse check, the verdict.

Runs with the training RNG streams saved and restored, so evaluating never changes the
training trajectory (and a resumed run matches an uninterrupted one).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch
from accelerate.utils import gather_object

from workbench.training import checkpoint as ckpt
from workbench.training.batches import Columns, collate
from workbench.training.health import LEVELS, probe_layers, worst
from workbench.training.step import forward_precision


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Restore Python, NumPy and torch RNG states on exit."""
    state = ckpt.rng_state()
    try:
        yield
    finally:
        ckpt.set_rng_state(state)


def run_evaluators(evaluators: list, model: Any) -> tuple[dict[str, float], list[str], list[str]]:
    """Merged metrics, statuses and diagnoses; an evaluator may return EvalResult or a dict."""
    metrics: dict[str, float] = {}
    statuses, diagnoses = [], []
    for ev in evaluators:
        res = ev(model)
        if isinstance(res, dict):
            metrics.update(res)
            continue
        metrics.update(res.metrics)
        statuses.append(res.status)
        if res.diagnosis:
            diagnoses.append(res.diagnosis)
    return metrics, statuses, diagnoses


@torch.no_grad()
def validation_loss(run: Any) -> float:
    """Mean loss over ``run.eval_dataset`` in order, dropout off, same precision as training."""
    loss = run.accelerator.unwrap_model(run.module)
    data = Columns.from_dataset(run.eval_dataset, run.config.max_seq_length)
    size, n = run.config.per_device_eval_batch_size, len(run.eval_dataset)
    total, count = 0.0, 0
    loss.eval()
    try:
        for start in range(0, n, size):
            idx = list(range(start, min(start + size, n)))
            features, labels = collate(run.model, data, idx)
            with forward_precision(run):
                total += float(loss(features, labels).float()) * len(idx)
            count += len(idx)
    finally:
        loss.train()
    return total / count if count else math.nan


def evaluate(run: Any) -> dict[str, Any]:
    """One evaluation event: ``metrics``, ``statuses``, ``diagnoses``, ``eval_loss``, ``health``."""
    with preserved_rng():
        metrics, statuses, diagnoses = run_evaluators(run.evaluators, run.model)
        event: dict[str, Any] = {"metrics": metrics, "statuses": statuses,
                                 "diagnoses": diagnoses}
        if run.eval_dataset is not None:
            event["eval_loss"] = validation_loss(run)
        probes = probe_layers(run.model, run.probe_texts, run.config.per_device_eval_batch_size,
                              last_only=True)
        event["health"] = run.monitor.update(run.state.step, run.state.losses_since_eval, probes,
                                             statuses)
    return event


def probe(run: Any, last_only: bool = False) -> dict[str, Any]:
    """The probe texts through ``run.model`` (every layer), training RNG streams untouched."""
    with preserved_rng():
        return probe_layers(run.model, run.probe_texts, run.config.per_device_eval_batch_size,
                            last_only=last_only)


def agree(run: Any, record: dict[str, Any]) -> dict[str, Any]:
    """The worst of every rank's ``record`` (by its ``status``), the same on all ranks."""
    if run.accelerator.num_processes == 1:
        return record
    return max(gather_object([record]), key=lambda r: LEVELS.index(r["status"]))


def final_verdict(run: Any) -> None:
    """Probe every layer of the trained model; set the run's findings and status (all ranks)."""
    st = run.state
    run.final_check = run.monitor.final_check(probe(run))
    findings = run.monitor.verdict(run.final_check, st.stopped)
    verdict = agree(run, {"status": worst(f["level"] for f in findings), "findings": findings})
    run.findings, st.status = verdict["findings"], verdict["status"]
    st.diagnosis = "; ".join(f["message"] for f in run.findings) or None
    if run.main:
        run.log.write({"type": "verdict", "step": st.step, "status": st.status,
                       "diagnosis": st.diagnosis, "findings": run.findings,
                       "layers": run.final_check})
