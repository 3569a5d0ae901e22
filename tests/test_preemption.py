"""How cluster jobs end, in real processes: SIGTERM (with the default action, a handler that exits, a handler that
lets training stop cleanly) and SIGKILL. The exit status is compared with the same job run without the plugin."""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from peft_efficiency.compare.liveness import judge
from peft_efficiency.report import REPORT_FILENAME

JOB = Path(__file__).with_name("preemption_jobs.py")
pytestmark = pytest.mark.slow


def start(output_dir: Path, plugin: str, handler: str, interval: str | None = None) -> subprocess.Popen:
    command = [sys.executable, str(JOB), str(output_dir), plugin, handler] + ([interval] if interval else [])
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step(process: subprocess.Popen, step: int) -> int:
    """Read the job's output until it reports `step` (or later); the step it reported."""
    for line in process.stdout:
        if line.startswith("READY") and int(line.split()[1]) >= step:
            return int(line.split()[1])
    raise AssertionError(f"the job ended before step {step}: {process.stderr.read()[-2000:]}")


def terminated(output_dir: Path, plugin: str, handler: str) -> tuple[int, int]:
    """(exit status, the step at which SIGTERM was sent)."""
    process = start(output_dir, plugin, handler)
    step = wait_for_step(process, 4)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    return process.returncode, step


def report(folder: Path) -> dict:
    return json.loads((folder / REPORT_FILENAME).read_text(encoding="utf-8"))


@pytest.mark.parametrize("handler", ["default", "exit3"])
def test_sigterm_ends_as_without_the_plugin_and_the_report_says_interrupted(tmp_path, handler):
    plain_status, _ = terminated(tmp_path / "plain", "plain", handler)
    status, step = terminated(tmp_path / "plugin", "plugin", handler)
    assert status == plain_status == (-signal.SIGTERM if handler == "default" else 3)
    run = report(tmp_path / "plugin")["run"]
    assert run["status"] == "interrupted" and run["signal"] == "SIGTERM" and "SIGTERM" in run["error"]
    assert step <= run["global_step"] <= step + 2  # the step reached when the signal came
    written = report(tmp_path / "plugin")
    assert written["time"]["samples"] == 2 * run["global_step"] or written["time"]["samples"] == 2 * (run["global_step"] + 1)
    assert written["time"]["train_seconds"] > 0 and written["params"]["trainable"] > 0
    assert written["energy"]["status"] == "measured" and written["energy"]["train"]["readings"] >= 1  # tracker stopped, read


def test_sigterm_to_a_handler_that_stops_training_cleanly(tmp_path):
    status, _ = terminated(tmp_path, "plugin", "stop")
    assert status == 0
    run = report(tmp_path)["run"]
    assert run["status"] == "completed" and run["signal"] == "SIGTERM" and run["global_step"] < 400


def test_after_sigkill_the_report_is_at_most_one_write_interval_old_and_compare_says_lost(tmp_path):
    interval = 0.5
    process = start(tmp_path, "plugin", "default", str(interval))
    step = wait_for_step(process, 12)
    process.kill()
    process.communicate(timeout=60)
    written = report(tmp_path)
    run = written["run"]
    assert run["status"] == "running" and run["pid"] == process.pid and run["write_interval_seconds"] == interval
    # a step takes at least 0.1 s (the job sleeps), so one interval spans at most 5 steps; no log was made (every 1000)
    assert step - interval / 0.1 - 1 <= run["global_step"] <= step + 1
    assert written["time"]["samples"] >= 2 * (step - interval / 0.1 - 1)
    assert judge(run).status == "lost"  # this host, the writer's process is gone


def test_no_hook_or_thread_outlives_a_restarted_inner_loop(tmp_path):
    """auto_find_batch_size: the Trainer reruns its inner loop with half the batch after an out-of-memory error;
    each failed attempt's forward hook, energy sampler thread and SIGTERM handler are released."""
    import threading

    import torch
    from transformers import Trainer

    from foundation_helpers import classification_dataset, tiny_bert, training_args
    from peft_efficiency import EfficiencyCallback
    from peft_efficiency.trackers.energy import SAMPLER_THREAD_NAME

    model = tiny_bert()
    original_forward = model.forward

    @functools.wraps(original_forward)  # the Trainer keeps the data set's columns that the signature names
    def forward(*args, **kwargs):
        if kwargs["input_ids"].shape[0] > 2:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes")
        return original_forward(*args, **kwargs)

    model.forward = forward
    handler_before = signal.getsignal(signal.SIGTERM)
    args = training_args(tmp_path, auto_find_batch_size=True, per_device_train_batch_size=8, max_steps=3)
    trainer = Trainer(model=model, args=args, train_dataset=classification_dataset(24),
                      callbacks=[EfficiencyCallback(measure_power_seconds=0.5)])
    trainer.train()
    assert trainer._train_batch_size == 2  # 8 -> 4 -> 2: two failed attempts
    assert sum(thread.name == SAMPLER_THREAD_NAME for thread in threading.enumerate()) == 0
    assert len(model._forward_pre_hooks) == 0
    assert signal.getsignal(signal.SIGTERM) == handler_before
    written = json.loads((tmp_path / REPORT_FILENAME).read_text())
    assert written["run"]["status"] == "completed" and written["time"]["samples"] == 3 * 2  # the attempt that trained
    assert torch.is_grad_enabled()
