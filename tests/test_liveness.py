"""Issue 24 item 2: every report write says when, where and by which process; `compare` tells a dead run from a
live one (`lost`: this host, the process is gone; `stale`: no write for longer than the writer promised)."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil

from compare_helpers import make_report, write_run
from peft_efficiency.compare.cli import main as compare_main
from peft_efficiency.compare.load import load_runs
from peft_efficiency.report import REPORT_FILENAME, load_report, record_quality, write_report

REPO = Path(__file__).resolve().parents[1]


def running(**run: object) -> dict:
    report = make_report("lora", value=0.8, trainable=1000, train_seconds=10.0, status="running")
    report["run"].update(run)
    return report


def iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def test_every_write_is_stamped_with_time_host_and_process(tmp_path: Path) -> None:
    report = running()
    before = dt.datetime.now(dt.timezone.utc)
    write_report(tmp_path / REPORT_FILENAME, report, write_interval_seconds=30)
    after = dt.datetime.now(dt.timezone.utc)
    run = load_report(tmp_path)["run"]
    written = dt.datetime.fromisoformat(run["updated_at"])
    assert before - dt.timedelta(milliseconds=1) <= written <= after
    assert (run["host"], run["pid"]) == (socket.gethostname(), os.getpid())
    assert run["pid_create_time"] == psutil.Process(os.getpid()).create_time()
    assert run["write_interval_seconds"] == 30.0
    assert "updated_at" not in report["run"]  # the caller's dict is left as it was
    other = tmp_path / "state.json"  # not a run report (no schema_version): written as given
    write_report(other, {"run": {"status": "x"}})
    assert json.loads(other.read_text()) == {"run": {"status": "x"}}


def test_a_process_that_only_merges_quality_keeps_the_writer_stamp(tmp_path: Path) -> None:
    stamped = running(updated_at="2026-01-01T00:00:00+00:00", host="node-a", pid=12, pid_create_time=5.0)
    write_report(tmp_path / REPORT_FILENAME, stamped, stamp=False)
    record_quality(tmp_path, {"bibleqa/lenient": 0.3})
    run = load_report(tmp_path)["run"]
    assert (run["updated_at"], run["host"], run["pid"], run["pid_create_time"]) == (
        "2026-01-01T00:00:00+00:00", "node-a", 12, 5.0)


def write_from_a_process_that_then_dies(folder: Path) -> int:
    """A real child process writes a running report through `write_report` and exits; its pid."""
    script = ("import sys; from compare_helpers import make_report; from peft_efficiency.report import write_report;"
              "r = make_report('lora', value=0.8, trainable=1000, train_seconds=10.0, status='running');"
              "r['run']['global_step'] = 7;"
              f"write_report({str(folder / REPORT_FILENAME)!r}, r, write_interval_seconds=30)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO)])}
    child = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    pid = load_report(folder)["run"]["pid"]
    assert not psutil.pid_exists(pid) or psutil.Process(pid).create_time() != load_report(folder)["run"]["pid_create_time"]
    return pid


def test_running_report_of_a_dead_process_is_lost(tmp_path: Path, capsys) -> None:
    dead = tmp_path / "dead"
    pid = write_from_a_process_that_then_dies(dead)
    alive = write_run(tmp_path, "alive", running())  # then stamped by this (living) test process
    write_report(alive / REPORT_FILENAME, running(), write_interval_seconds=30)
    rows, problems = load_runs([dead, alive])
    status = {row.source.parent.name: row.status for row in rows}
    assert status == {"dead": "lost", "alive": "running"}
    lost = next(row for row in rows if row.status == "lost")
    assert f"(pid {pid} on {socket.gethostname()}) is gone" in lost.status_reason and "at step 7" in lost.status_reason
    assert any("shown as 'lost'" in p.message and str(dead) in p.message for p in problems)

    assert compare_main([str(dead), str(alive), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| lora (dead) | lost |" in out and "| lora (alive) | running |" in out
    assert f"lora (dead) is lost: its process (pid {pid} on" in out  # the note says why


def test_a_pid_given_to_another_process_since_is_lost(tmp_path: Path) -> None:
    mine = psutil.Process(os.getpid()).create_time()
    now = iso(dt.datetime.now(dt.timezone.utc))
    write_run(tmp_path, "reused", running(host=socket.gethostname(), pid=os.getpid(), pid_create_time=mine - 1000,
                                          updated_at=now, write_interval_seconds=30))
    write_run(tmp_path, "same", running(host=socket.gethostname(), pid=os.getpid(), pid_create_time=mine,
                                        updated_at=now, write_interval_seconds=30))
    rows, _ = load_runs([tmp_path / "reused", tmp_path / "same"])
    assert {r.source.parent.name: r.status for r in rows} == {"reused": "lost", "same": "running"}


def test_a_report_not_written_for_longer_than_promised_is_stale(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    elsewhere = {"host": "node-b.cluster", "pid": 4242, "write_interval_seconds": 30}
    # allowed: 2 x 30 s + 60 s = 120 s without a write
    write_run(tmp_path, "old", running(updated_at=iso(now - dt.timedelta(minutes=10)), global_step=40, **elsewhere))
    write_run(tmp_path, "recent", running(updated_at=iso(now - dt.timedelta(seconds=90)), **elsewhere))
    write_run(tmp_path, "slow", running(updated_at=iso(now - dt.timedelta(minutes=10)),
                                        **{**elsewhere, "write_interval_seconds": 600}))
    write_run(tmp_path, "done", make_report("full", value=0.9, trainable=5, train_seconds=9.0))
    rows, _ = load_runs(sorted(tmp_path.iterdir()))
    status = {r.source.parent.name: r.status for r in rows}
    assert status == {"old": "stale", "recent": "running", "slow": "running", "done": "completed"}
    stale = next(r for r in rows if r.status == "stale")
    assert "at step 40, 10 min ago" in stale.status_reason and "on node-b.cluster promised a write every 30 s" in stale.status_reason


def test_reports_without_liveness_fields_and_finished_runs_keep_their_status(tmp_path: Path) -> None:
    old = running()
    old["schema_version"] = 2  # written before the liveness fields existed
    write_run(tmp_path, "v2", old)
    finished = make_report("full", value=0.9, trainable=5, train_seconds=9.0)
    finished["run"].update(host=socket.gethostname(), pid=write_from_a_process_that_then_dies(tmp_path / "scratch"),
                           updated_at="2026-01-01T00:00:00+00:00", write_interval_seconds=30)
    write_run(tmp_path, "finished", finished)
    rows, _ = load_runs([tmp_path / "v2", tmp_path / "finished"])
    assert {r.source.parent.name: (r.status, r.status_reason) for r in rows} == {
        "v2": ("running", None), "finished": ("completed", None)}
