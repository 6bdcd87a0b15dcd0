"""Honest run records without executing a notebook: atomic writes, the folder lock, stale
``running`` records seen by every reader (check_run_folder, compare, the explorer widget)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from run_factory import make_run_folder

from workbench import atomic
from workbench.cli import main as cli
from workbench.reports.widgets import TradeoffExplorer
from workbench.runs import attempt, record
from workbench.runs import folder as run_folder
from workbench.runs.compare import headline_metrics, load_run
from workbench.runs.lock import LOCK_NAME, RunLock, RunLockedError


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_atomic_writes_leave_no_temporary_and_keep_the_old_folder_on_failure(tmp_path):
    atomic.write_json(tmp_path / "a.json", {"x": 1})
    atomic.write_json(tmp_path / "a.json", {"x": 2})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 2}
    atomic.write_dir(tmp_path / "ck", lambda d: (d / "state").write_text("old"))

    def broken(folder):
        (folder / "state").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic.write_dir(tmp_path / "ck", broken)
    assert (tmp_path / "ck" / "state").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "ck"]


def test_lock_refuses_a_second_writer_naming_its_pid_and_takes_over_a_dead_one(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from workbench.runs.lock import RunLock
            RunLock({str(tmp_path)!r}).acquire()
            print("locked", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid} on"):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = RunLock(tmp_path).acquire()  # the holder died without releasing: stale, taken over
    assert lock.took_over["pid"] == holder.pid
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_reused_pid_with_another_start_time_is_not_alive():
    me = record.process_identity()
    assert record.process_alive(me) is True
    assert record.process_alive({**me, "process_started": me["process_started"] - 1000}) is False
    assert record.process_alive({"pid": _dead_pid(), "host": me["host"]}) is False
    assert record.process_alive({"pid": 1, "host": "another-host"}) is None


def _stale(run_dir, step: int = 7) -> None:
    record.write_record(run_dir, {
        "experiment": "matryoshka_2d", "status": "running", "parameters": {},
        "process": {"pid": _dead_pid(), "host": record.process_identity()["host"]},
        "cell": {"index": 9, "total": 19}})
    atomic.write_json(run_dir / record.PROGRESS_FILE, {"step": step, "total_steps": 12})


def test_every_reader_reports_a_dead_running_run_as_stale(tmp_path, tiny_bert_dir, capsys):
    run_dir = make_run_folder(tmp_path, tiny_bert_dir)
    assert not [p for p in run_folder.check_run_folder(run_dir) if "run.json" in p]
    assert record.status_line(run_dir) is None
    _stale(run_dir)
    assert record.effective_status(run_dir) == "stale"
    reason = record.stale_reason(run_dir)
    assert "cell 9/19, training step 7/12" in reason and f"--resume {run_dir}" in reason
    assert [p for p in run_folder.check_run_folder(run_dir) if "stale run" in p]
    assert headline_metrics([load_run(run_dir)]).loc["run"].iloc[0] == "stale"
    assert cli.main(["compare", str(run_dir), "--out", str(tmp_path / "cmp")]) == 0
    assert "stale run" in capsys.readouterr().err
    widget = TradeoffExplorer(run_dir).widget
    assert any("stale run" in getattr(w, "value", "") for w in widget.children)


def test_a_live_running_run_is_not_stale(tmp_path):
    record.write_record(tmp_path, {"experiment": "e", "status": "running",
                                   "process": record.process_identity()})
    assert record.effective_status(tmp_path) == "running"
    assert record.status_line(tmp_path).startswith("still running")


def test_sigterm_ends_a_run_like_ctrl_c():
    with pytest.raises(attempt.Terminated), attempt.sigterm_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
