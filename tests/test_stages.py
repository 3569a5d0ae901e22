"""Issue 24 item 7: a second run in the same output folder keeps the first run's report (moved aside as a
numbered stage) and says so; `compare` reads the folder's stages and either file given by name."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from compare_helpers import make_report, write_run
from peft_efficiency.compare.load import load_runs
from peft_efficiency.report import REPORT_FILENAME, earlier_stages, keep_earlier_stage, load_report, write_report


def stage_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_each_new_run_moves_the_earlier_report_aside_with_the_next_number(tmp_path: Path) -> None:
    first = make_report("full", value=0.9, trainable=100, train_seconds=40.0)
    first["run"].update(started_at="2026-12-06T10:00:00+00:00", ended_at="2026-12-06T10:05:00+00:00")
    folder = write_run(tmp_path, "two_stages", first)
    assert keep_earlier_stage(folder / REPORT_FILENAME, resuming=False) == "efficiency_report.stage-1.json"
    assert stage_names(folder) == ["efficiency_report.stage-1.json"]
    assert load_report(folder / "efficiency_report.stage-1.json") == first  # kept byte for byte in content

    second = make_report("lora", value=0.8, trainable=10, train_seconds=20.0, status="failed")
    write_report(folder / REPORT_FILENAME, second)
    assert keep_earlier_stage(folder, resuming=False) == "efficiency_report.stage-2.json"  # the folder works too
    assert earlier_stages(folder) == [
        {"stage": 1, "file": "efficiency_report.stage-1.json", "status": "completed", "method": "full",
         "started_at": "2026-12-06T10:00:00+00:00", "ended_at": "2026-12-06T10:05:00+00:00", "global_step": 200},
        {"stage": 2, "file": "efficiency_report.stage-2.json", "status": "failed", "method": "lora",
         "started_at": None, "ended_at": None, "global_step": 200},
    ]
    assert keep_earlier_stage(folder, resuming=False) is None  # nothing left to move


def test_a_resumed_run_and_the_same_runs_restart_keep_the_report(tmp_path: Path) -> None:
    folder = write_run(tmp_path, "resumed", make_report("lora", value=0.8, trainable=10, train_seconds=20.0))
    assert keep_earlier_stage(folder, resuming=True) is None  # resume_from_checkpoint continues the same report
    mine = make_report("lora", value=0.8, trainable=10, train_seconds=20.0, status="running")
    write_report(folder / REPORT_FILENAME, mine)  # stamped with this host and pid, as the session's writes are
    assert keep_earlier_stage(folder, resuming=False) is None  # auto_find_batch_size: train begins again in-process
    assert stage_names(folder) == [REPORT_FILENAME]


def test_running_report_of_another_process_and_unreadable_reports_are_kept(tmp_path: Path) -> None:
    other = make_report("lora", value=0.8, trainable=10, train_seconds=20.0, status="running")
    other["run"].update(host=socket.gethostname(), pid=os.getpid() + 1_000_000)  # no such process
    folder = write_run(tmp_path, "killed", other)
    assert keep_earlier_stage(folder, resuming=False) == "efficiency_report.stage-1.json"
    broken = write_run(tmp_path, "broken", '{"schema_version": 3, "run": {')
    assert keep_earlier_stage(broken, resuming=False) == "efficiency_report.stage-1.json"
    assert (broken / "efficiency_report.stage-1.json").read_text() == '{"schema_version": 3, "run": {'
    assert earlier_stages(broken)[0]["status"] is None
    assert keep_earlier_stage(tmp_path / "nothing_here", resuming=False) is None


def test_compare_reads_the_stages_of_a_folder_and_either_file(tmp_path: Path) -> None:
    folder = write_run(tmp_path, "run", make_report("full", value=0.9, trainable=100, train_seconds=40.0))
    keep_earlier_stage(folder, resuming=False)
    write_report(folder / REPORT_FILENAME, make_report("full", value=0.7, trainable=100, train_seconds=30.0))
    rows, problems = load_runs([folder])
    assert problems == []
    assert sorted((r.label, r.quality["eval_accuracy"]) for r in rows) == [("full (run)", 0.7), ("full (stage-1)", 0.9)]
    rows, _ = load_runs([folder / "efficiency_report.stage-1.json"])
    assert [(r.label, r.quality["eval_accuracy"]) for r in rows] == [("full", 0.9)]
    rows, _ = load_runs([tmp_path])  # a folder of run folders: every report below it, stages included
    assert len(rows) == 2
