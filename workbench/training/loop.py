"""``train()``: one plain accelerate loop composing encoder, loss, sampler and evaluators.

Per optimizer step: ``gradient_accumulation_steps`` batches (loss / n, backward, no DDP sync
until the last), grad-norm clipping, AdamW, linear warmup/decay. Then, on their schedules:
log, evaluate (+ collapse check), checkpoint. A NaN/inf loss stops every rank at once; the
run ends with a verdict (``health``: ok / warning / degenerate) that all ranks share.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import AutocastKwargs, DistributedDataParallelKwargs, set_seed
from tqdm.auto import tqdm

from workbench.fast.malloc import keep_freed_memory
from workbench.fast.row_adamw import RowAdamW
from workbench.fast.sparse_grads import DenseGradients
from workbench.progress import ProgressFile
from workbench.training import checkpoint as ckpt
from workbench.training import clipping
from workbench.training.batches import Columns, epoch_batches, make_sampler
from workbench.training.config import TrainConfig, check_device, check_setup
from workbench.training.emissions import EmissionsMeter
from workbench.training.evaluation import agree, evaluate, final_verdict, probe
from workbench.training.health import CollapseMonitor, NonFiniteLossError
from workbench.training.log import TrainLog
from workbench.training.optim import make_optimizer, make_scheduler
from workbench.training.parts import PartsClock, totals
from workbench.training.state import TrainResult, TrainState
from workbench.training.step import train_step
from workbench.training.trackers import Trackers, open_trackers

Callback = Callable[[str, "TrainState"], None]
"""Called as ``cb(event, state)`` with event "start", "step", "log", "eval", "save" or "end"."""


@dataclass
class _Run:
    config: TrainConfig
    accelerator: Accelerator
    module: torch.nn.Module
    model: Any
    optimizer: Any
    scheduler: Any
    data: Columns
    sampler: Any
    log: TrainLog
    monitor: CollapseMonitor
    state: TrainState
    evaluators: Sequence[Callable[[Any], Any]]
    callbacks: Sequence[Callback]
    eval_dataset: Any = None
    probe_texts: list[str] = field(default_factory=list)
    last_checkpoint: str | None = None
    health: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, str]] = field(default_factory=list)
    final_check: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock: PartsClock | None = None
    dense_grads: DenseGradients | None = None  # sparse word-embedding gradients (one CPU process)
    row_adamw: RowAdamW | None = None  # AdamW on the rows in use of those (one CPU process)

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process


def train(model: Any, loss: torch.nn.Module, train_dataset: Any, config: TrainConfig,
          evaluators: Iterable[Callable[[Any], Any]] = (), callbacks: Iterable[Callback] = (),
          eval_dataset: Any = None, probe_texts: Sequence[str] | None = None,
          resume_from: str | Path | None = None, trackers: Trackers | None = None) -> TrainResult:
    """Train ``loss.model`` (== ``model``) on ``train_dataset``; returns a :class:`TrainResult`.

    ``eval_dataset`` (same columns as the training data) gives the Validation Loss; the collapse
    check embeds ``probe_texts`` (default: up to 64 training texts). ``resume_from`` is a
    checkpoint folder or an output folder (its newest checkpoint). ``trackers``: already open
    experiment trackers (the caller closes them); default: opened from ``config.report_to`` and
    closed at the end.
    """
    run = _setup(model, loss, train_dataset, config, list(evaluators), list(callbacks),
                 resume=resume_from is not None)
    run.eval_dataset = eval_dataset
    run.probe_texts = list(probe_texts or _default_probe(run.data))
    if resume_from is not None:
        _resume(run, resume_from)
    if not run.monitor.baseline:
        run.monitor.set_baseline(probe(run))
    meter = EmissionsMeter(config.output_dir, enabled=config.track_emissions and run.main).start()
    run.clock = PartsClock(meter, run.state.parts, run.state.step, run.state.rows)
    if run.main and config.output_dir is not None:
        run.callbacks.append(ProgressFile(config.output_dir))
    owned = trackers is None
    if owned:
        trackers = (open_trackers(config.report_to, config.output_dir,
                                  params=config.to_card_dict()["all"]) if run.main else Trackers())
    run.log.listeners.append(trackers)
    status = "failed"
    try:
        _notify(run, "start")
        _loop(run)
        status = run.state.status
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        parts = run.clock.finish(run.state.step, run.state.rows)
        seconds, emissions = totals(parts)
        if run.main:
            run.log.write({"type": "end", "step": run.state.step, "epoch": run.state.epoch_float,
                           "status": status, "seconds": seconds, "emissions": emissions,
                           "parts": len(parts)})
        if owned:
            trackers.close()
    return _result(run, parts)


def forget_other_precision(mixed: str) -> None:
    """Drop a single-process ``AcceleratorState`` left with another mixed precision (a
    transformers or sentence-transformers Trainer run earlier in the same kernel sets ``bf16``),
    which accelerate would otherwise refuse to change ("restart your runtime completely")."""
    from accelerate.state import AcceleratorState

    state = AcceleratorState._shared_state
    if (state and state.get("_mixed_precision", mixed) != mixed
            and not torch.distributed.is_initialized()):
        AcceleratorState._reset_state()


def _setup(model: Any, loss: torch.nn.Module, dataset: Any, config: TrainConfig,
           evaluators: list, callbacks: list, resume: bool = False) -> _Run:
    check_device(config)
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    # The encoder autocasts its own forward (step.forward_precision); accelerate only scales fp16
    # gradients, its autocast around the whole loss stays off.
    mixed = "fp16" if config.precision == "fp16" else "no"
    forget_other_precision(mixed)
    acc = Accelerator(mixed_precision=mixed, cpu=not torch.cuda.is_available(),
                      kwargs_handlers=[ddp, AutocastKwargs(enabled=False)])
    check_setup(config, model, loss, dataset, acc.num_processes)
    set_seed(config.seed)
    data = Columns.from_dataset(dataset, config.max_seq_length)
    sampler = make_sampler(dataset, config)
    state = TrainState()
    chunk = config.gradient_accumulation_steps
    n_batches = len(epoch_batches(sampler, 0, acc.process_index, acc.num_processes))
    state.chunks_per_epoch = max(1, math.ceil(n_batches / chunk))
    state.total_steps = (config.max_steps if config.max_steps > 0
                         else math.ceil(config.num_train_epochs * state.chunks_per_epoch))
    optimizer = make_optimizer(loss, config)
    scheduler = make_scheduler(optimizer, config, state.total_steps)
    module, optimizer = acc.prepare(loss, optimizer)
    log = TrainLog(config.output_dir if acc.is_main_process else None, resume=resume)
    monitor = CollapseMonitor(config.collapse_patience, config.flat_loss_rtol,
                              config.collapse_cosine, config.loss_blowup_factor)
    dense = DenseGradients() if acc.num_processes == 1 and acc.device.type == "cpu" else None
    adamw = clipping.fused_adamw(optimizer) if dense is not None else None
    rows = RowAdamW(adamw) if adamw is not None else None
    if acc.device.type == "cpu":
        keep_freed_memory()  # no page faults for each step's tensors (-17% CPU a MiniLM step)
    return _Run(config, acc, module, model, optimizer, scheduler, data, sampler, log, monitor,
                state, evaluators, callbacks, dense_grads=dense, row_adamw=rows)


def _default_probe(data: Columns, n: int = 64) -> list[str]:
    texts = list(dict.fromkeys(t for col in data.texts for t in col[:n]))
    return texts[:n]


def _resume(run: _Run, path: str | Path) -> None:
    unwrapped = run.accelerator.unwrap_model(run.module)
    trainer = ckpt.load_checkpoint(path, unwrapped, run.optimizer, run.scheduler)
    monitor = trainer.pop("monitor")
    run.state = TrainState(**{**trainer, "monitor": monitor})
    run.monitor.load_state_dict(monitor)
    run.log.truncate_after(run.state.step)
    run.health = [{k: v for k, v in e.items() if k != "type"} for e in run.log.events
                  if e["type"] == "health"]  # the checks before the interruption stay
    run.last_checkpoint = str(ckpt.resolve_checkpoint(path))


def _loop(run: _Run) -> None:
    st, cfg = run.state, run.config
    bar = tqdm(total=st.total_steps, initial=st.step, unit="step", desc="train",
               disable=cfg.disable_tqdm or not run.main, dynamic_ncols=True)
    with bar:
        while st.step < st.total_steps and st.status == "ok":
            batches = epoch_batches(run.sampler, st.epoch, run.accelerator.process_index,
                                    run.accelerator.num_processes)
            chunks = [batches[i:i + cfg.gradient_accumulation_steps]
                      for i in range(0, len(batches), cfg.gradient_accumulation_steps)]
            st.chunks_per_epoch = len(chunks)
            while st.next_chunk < len(chunks) and st.step < st.total_steps and st.status == "ok":
                if not _one_step(run, chunks[st.next_chunk]):
                    break
                bar.update(1)
                bar.set_postfix(loss=f"{st.last_loss:.4f}",
                                lr=f"{run.scheduler.get_last_lr()[0]:.2e}", refresh=False)
                _after_step(run, epoch_end=st.next_chunk == len(chunks))
            if st.next_chunk >= len(chunks):
                st.epoch, st.next_chunk = st.epoch + 1, 0
    if cfg.eval_strategy != "no" and st.last_eval_step != st.step:
        _evaluate(run)
    _save(run)
    final_verdict(run)
    _notify(run, "end")


def _one_step(run: _Run, chunk: list[list[int]]) -> bool:
    """One optimizer step; False (status degenerate) when a rank's loss was NaN/inf."""
    st = run.state
    try:
        value = train_step(run, chunk)
    except NonFiniteLossError as err:
        st.status, st.diagnosis, st.stopped = "degenerate", str(err), str(err)
        return False
    st.rows += sum(len(b) for b in chunk) * run.accelerator.num_processes
    st.step, st.next_chunk, st.last_loss = st.step + 1, st.next_chunk + 1, value
    st.loss_window.append(value)
    st.losses_since_eval.append(value)
    _notify(run, "step")
    return True


def _after_step(run: _Run, epoch_end: bool) -> None:
    st, cfg = run.state, run.config
    if st.step % cfg.logging_steps == 0:
        _log_loss(run)
    due = (cfg.eval_strategy == "steps" and st.step % cfg.eval_every == 0) or \
          (cfg.eval_strategy == "epoch" and epoch_end)
    if due:
        _evaluate(run)
    if cfg.output_dir is not None and st.step % cfg.save_steps == 0 and st.step < st.total_steps:
        _save(run)


def _log_loss(run: _Run) -> None:
    st = run.state
    local = torch.tensor(sum(st.loss_window) / max(len(st.loss_window), 1))
    mean = float(run.accelerator.reduce(local, reduction="mean"))
    if run.main:
        run.log.write({"type": "train", "step": st.step, "epoch": round(st.epoch_float, 4),
                       "loss": mean, "learning_rate": run.scheduler.get_last_lr()[0]})
    st.loss_window = []
    _notify(run, "log")


def _evaluate(run: _Run) -> None:
    st = run.state
    event = evaluate(run)
    st.metrics = event["metrics"]
    health = agree(run, {"step": st.step, **event.pop("health")})
    run.health.append(health)
    if run.main:
        run.log.write({"type": "eval", "step": st.step, "epoch": round(st.epoch_float, 4), **event})
        run.log.write({"type": "health", **health})
    st.losses_since_eval, st.last_eval_step = [], st.step
    st.monitor = run.monitor.state_dict()
    if health["status"] == "degenerate":
        st.diagnosis = health["diagnosis"]
        if run.config.stop_on_degenerate:
            st.status = "degenerate"
    _notify(run, "eval")


def _save(run: _Run) -> None:
    if run.config.output_dir is None:
        return
    st = run.state
    st.monitor = run.monitor.state_dict()
    if run.clock is not None:
        st.parts = run.clock.at_checkpoint(st.step, st.rows)
    if run.main:
        trainer = {k: v for k, v in vars(st).items()}
        path = ckpt.save_checkpoint(run.config.output_dir, st.step,
                                    run.accelerator.unwrap_model(run.module), run.optimizer,
                                    run.scheduler, trainer, keep=run.config.save_total_limit)
        run.last_checkpoint = str(path)
        run.log.write({"type": "save", "step": st.step, "path": str(path)})
    run.accelerator.wait_for_everyone()
    _notify(run, "save")


def _notify(run: _Run, event: str) -> None:
    for cb in run.callbacks:
        cb(event, run.state)


def _result(run: _Run, parts: list[dict[str, Any]]) -> TrainResult:
    """Totals over every part of the run (one part unless it was resumed)."""
    st = run.state
    seconds, emissions = totals(parts)
    return TrainResult(
        status=st.status, diagnosis=st.diagnosis, global_step=st.step, epoch=st.epoch_float,
        train_seconds=seconds, train_rows=st.rows,
        rows_per_s=st.rows / seconds if seconds > 0 else math.nan, final_loss=st.last_loss,
        metrics=dict(st.metrics), health=list(run.health), emissions=emissions,
        output_dir=run.config.output_dir, last_checkpoint=run.last_checkpoint,
        log=run.log.frame(), parts=parts, findings=list(run.findings),
        final_check=dict(run.final_check))
