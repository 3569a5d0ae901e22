"""Faults and misuse of the callbacks, each as a user meets it: fresh processes where the real workflow is one,
real signals, real files on disk. Each asserts the exact outcome (status, figures kept, message)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from peft_efficiency import EfficiencyCallback
from peft_efficiency.callbacks import EnergyCallback, ThroughputCallback
from peft_efficiency.report import REPORT_FILENAME

JOBS = Path(__file__).with_name("fault_jobs.py")


def job(name: str, *args: str, expect_ok: bool = True) -> dict:
    out = subprocess.run([sys.executable, str(JOBS), name, *args], capture_output=True, text=True, timeout=300)
    if expect_ok:
        assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {"returncode": out.returncode, "stderr": out.stderr}


def report(folder: Path) -> dict:
    return json.loads((folder / REPORT_FILENAME).read_text(encoding="utf-8"))


def test_evaluate_alone_in_a_new_process_keeps_a_completed_report(tmp_path):
    job("train", str(tmp_path))
    trained = report(tmp_path)
    job("evaluate_only", str(tmp_path))
    after = report(tmp_path)
    assert after["run"]["status"] == "completed"
    for section in ("params", "memory", "flops"):
        assert after[section] == trained[section]
    assert after["time"]["train_seconds"] == trained["time"]["train_seconds"] > 0
    assert after["time"]["evaluations_after_training"] == 1 and after["time"]["eval_seconds_after_training"] > 0
    assert after["quality"]["history"][-1]["source"] == "evaluate" and "eval_loss" in after["quality"]["eval"]


def test_evaluate_alone_in_a_fresh_folder_says_what_it_is(tmp_path):
    job("evaluate_only", str(tmp_path))
    made = report(tmp_path)
    assert made["run"]["status"] == "evaluated"
    assert made["time"]["train_seconds"] is None and "no training in this folder" in made["time"]["unavailable"]["train_seconds"]
    assert made["params"]["trainable"] == made["params"]["total"] > 0 and made["run"]["method"] == "full"
    assert "eval_loss" in made["quality"]["eval"]


def test_one_instance_reused_writes_each_run_into_its_own_folder(tmp_path):
    job("one_instance_two_trainers", str(tmp_path))
    first, second = report(tmp_path / "first"), report(tmp_path / "second")
    assert first["run"]["global_step"] == 2 and second["run"]["global_step"] == 3
    assert first["run"]["output_dir"].endswith("first") and second["run"]["output_dir"].endswith("second")
    assert first["time"]["samples"] == 2 * 4 and second["time"]["samples"] == 3 * 4


def test_add_callback_then_a_crash_reports_failed_with_the_step_reached(tmp_path):
    observed = job("add_callback_crash", str(tmp_path))
    assert observed["raised"] == "injected fault at step 3"
    failed = report(tmp_path)
    assert failed["run"]["status"] == "failed"
    assert failed["run"]["error"] == "RuntimeError: injected fault at step 3"
    assert failed["run"]["global_step"] == 3 and failed["time"]["samples"] == 3 * 4
    # codecarbon (installed with the lock) measured the three steps, and its tracker was stopped: no sampler left
    assert failed["energy"]["status"] == "measured" and failed["energy"]["energy_kwh"] > 0
    assert observed["energy_samplers_alive"] == 0


def test_add_callback_then_a_real_sigint_reports_interrupted(tmp_path):
    process = subprocess.Popen([sys.executable, str(JOBS), "add_callback_sigint", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.startswith("READY"):
            break
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    assert process.returncode != 0
    interrupted = report(tmp_path)
    assert interrupted["run"]["status"] == "interrupted" and interrupted["run"]["error"].startswith("KeyboardInterrupt")
    assert 2 <= interrupted["run"]["global_step"] < 200
    assert interrupted["time"]["train_seconds"] > 0 and interrupted["params"]["trainable"] > 0
    assert interrupted["energy"]["status"] in ("measured", "unavailable")


BAD_STATES = {
    "sessions is a string": ({"sessions": "two"}, "'sessions' is 'two', not a whole number >= 1"),
    "a JSON list": ([], "it holds a JSON list, not an object"),
    "samples is null": ({"time": {"samples": None}}, "'time.samples' is None, not a whole number >= 0"),
    "time is a number": ({"time": 5}, "'time' is 5, not an object"),
    "energy part with a stray key": ({"energy": {"train": {"bogus": 1}}}, "'energy.train' is {'bogus': 1}, not valid"),
    "flops is text": ({"flops": {"flops": "many"}}, "'flops.flops' is 'many', not a number or null"),
    "step times not an object": ({"time": {"step_time": ["a"]}}, "'time.step_time' is ['a'], not an object"),
}


@pytest.mark.parametrize("case", sorted(BAD_STATES))
def test_a_malformed_checkpoint_state_restarts_the_totals_and_says_why(tmp_path, case):
    content, phrase = BAD_STATES[case]
    job("save_every_two", str(tmp_path), "4")
    checkpoint = tmp_path / "checkpoint-4"
    (checkpoint / "efficiency_state.json").write_text(json.dumps(content), encoding="utf-8")
    assert job("resume", str(tmp_path), str(checkpoint))["global_step"] == 6
    resumed = report(tmp_path)
    assert resumed["run"]["status"] == "completed" and resumed["run"]["sessions"] == 1
    assert phrase in resumed["run"]["resume_note"] and "totals start again" in resumed["run"]["resume_note"]
    assert resumed["time"]["samples"] == 2 * 4  # only this session's two steps


def test_a_normal_resume_counts_every_step_and_continues_the_totals(tmp_path):
    job("save_every_two", str(tmp_path), "4")
    job("resume", str(tmp_path), str(tmp_path / "checkpoint-4"))
    resumed = report(tmp_path)
    assert resumed["run"]["sessions"] == 2 and "resume_note" not in resumed["run"]
    assert resumed["time"]["steps"] == 6 and resumed["time"]["samples"] == 6 * 4


def test_two_runs_in_one_process_leave_no_model_alive(tmp_path):
    assert job("two_runs_in_one_process", str(tmp_path))["models_alive"] == 0


def test_the_report_file_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        job("train", str(tmp_path), "2")
    finally:
        os.umask(old)
    assert (tmp_path / REPORT_FILENAME).stat().st_mode & 0o777 == 0o644


ARGUMENT_ERRORS = [
    (lambda: ThroughputCallback(warmup_steps="2"), ValueError, "warmup_steps must be an integer >= 0, got str '2'"),
    (lambda: EfficiencyCallback(warmup_steps=-1), ValueError, "warmup_steps must be an integer >= 0, got int -1"),
    (lambda: EfficiencyCallback(warmup_steps=True), ValueError, "warmup_steps must be an integer >= 0, got bool True"),
    (lambda: EnergyCallback(measure_power_seconds="abc"), ValueError, "measure_power_seconds must be a number of seconds > 0, got str 'abc'"),
    (lambda: EfficiencyCallback(measure_power_seconds=-5), ValueError, "measure_power_seconds must be a number of seconds > 0, got int -5"),
    (lambda: EfficiencyCallback(measure_power_seconds=float("nan")), ValueError, "measure_power_seconds must be a number of seconds > 0, got float nan"),
    (lambda: EfficiencyCallback(labels="notadict"), TypeError, "labels must be a dict of string keys to string values"),
    (lambda: EfficiencyCallback(labels={1: "a"}), TypeError, "labels must be a dict of string keys"),
    (lambda: EfficiencyCallback(country_iso_code="XXX"), ValueError, "country_iso_code 'XXX' is not in codecarbon's carbon-intensity table"),
    (lambda: EfficiencyCallback(country_iso_code=123), ValueError, "country_iso_code must be an ISO 3166-1 alpha-3 code such as 'USA' or 'SVN', got 123"),
    (lambda: EfficiencyCallback(country_iso_code="US"), ValueError, "got 'US'"),
    (lambda: EfficiencyCallback(energy="yes"), TypeError, "energy must be True or False, got str 'yes'"),
    (lambda: EfficiencyCallback(codecarbon_online=1), TypeError, "codecarbon_online must be True or False, got int 1"),
    (lambda: EfficiencyCallback(greater_is_better="no"), TypeError, "greater_is_better must be True or False, got str 'no'"),
    (lambda: EfficiencyCallback(task=5), TypeError, "task must be a string or None, got int 5"),
    (lambda: EfficiencyCallback(method=["lora"]), TypeError, "method must be a string or None, got list"),
]


@pytest.mark.parametrize("build, error, message", ARGUMENT_ERRORS, ids=[m[:40] for _, _, m in ARGUMENT_ERRORS])
def test_wrong_arguments_fail_when_the_callback_is_built(build, error, message):
    with pytest.raises(error) as info:
        build()
    assert message in str(info.value)


def test_lower_case_country_codes_are_accepted_as_upper_case():
    assert EnergyCallback(country_iso_code="svn").measures[0].country_iso_code == "SVN"


@pytest.mark.parametrize("variable, value, message", [
    ("PEFT_EFFICIENCY_ENERGY", "maybe", "PEFT_EFFICIENCY_ENERGY='maybe': expected 1/true/yes/on or 0/false/no/off"),
    ("PEFT_EFFICIENCY_LABELS", "split", "PEFT_EFFICIENCY_LABELS='split': expected key=value pairs"),
    ("PEFT_EFFICIENCY_COUNTRY", "ZZZ", "country_iso_code 'ZZZ' is not in codecarbon's carbon-intensity table"),
])
def test_wrong_environment_variables_name_themselves(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EfficiencyCallback()


def test_environment_variables_give_the_defaults(monkeypatch):
    monkeypatch.setenv("PEFT_EFFICIENCY_TASK", "imdb")
    monkeypatch.setenv("PEFT_EFFICIENCY_LABELS", "split=90_10, seed=3")
    monkeypatch.setenv("PEFT_EFFICIENCY_ENERGY", "off")
    callback = EfficiencyCallback(labels={"seed": "4"})
    assert callback.task == "imdb" and callback.labels == {"split": "90_10", "seed": "4"}
    assert not callback.energy_enabled and all(m.name != "energy" for m in callback.measures)


RECIPE_ARGUMENT_ERRORS = [
    (["--train-size", "0"], "error: argument --train-size: must be a whole number > 0, got '0'"),
    (["--batch-size", "-4"], "error: argument --batch-size: must be a whole number > 0, got '-4'"),
    (["--learning-rate", "abc"], "error: argument --learning-rate: must be a number > 0, got 'abc'"),
    (["--model-path", "{tmp}/missing"], "error: argument --model-path: {tmp}/missing does not exist or is not a folder"),
    (["--model-path", "{tmp}"], "error: argument --model-path: {tmp} holds no config.json, so it is not a saved transformers model"),
    (["--country-iso-code", "XXX"], "error: argument --country-iso-code: country_iso_code 'XXX' is not in codecarbon's"),
]


@pytest.mark.parametrize("arguments, message", RECIPE_ARGUMENT_ERRORS, ids=[a[0] for a, _ in RECIPE_ARGUMENT_ERRORS])
def test_recipe_arguments_a_user_gets_wrong_end_in_one_error_line(tmp_path, arguments, message):
    script = Path(__file__).resolve().parents[1] / "recipes" / "imdb_roberta" / "train.py"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    out = subprocess.run([sys.executable, str(script), "--smoke", "--output-dir", str(tmp_path / "run"), *argv],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert message.replace("{tmp}", str(tmp_path)) in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "run").exists()


EVAL_ARGUMENT_ERRORS = [
    ("pretrained={tmp}/missing", [], "error: --model_args pretrained={tmp}/missing: no such folder"),
    ("pretrained={tmp}", [], "error: --model_args pretrained={tmp}: the folder holds no config.json"),
    ("pretrained=gpt2,peft={tmp}", [], "error: --model_args peft={tmp}: the folder holds no adapter_config.json"),
    ("pretrained=gpt2", ["--limit", "0"], "error: --limit 0: must be a number > 0"),
    ("pretrained=gpt2", ["--batch_size", "-2"], "error: --batch_size -2: must be a number > 0"),
]


@pytest.mark.parametrize("model_args, extra, message", EVAL_ARGUMENT_ERRORS, ids=[m[:30] for _, _, m in EVAL_ARGUMENT_ERRORS])
def test_eval_arguments_a_user_gets_wrong_end_in_one_error_line(tmp_path, model_args, extra, message):
    argv = ["--model", "hf", "--model_args", model_args.replace("{tmp}", str(tmp_path)), "--tasks", "bibleqa", *extra]
    out = subprocess.run([sys.executable, "-m", "peft_efficiency.cli", "eval", *argv], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [message.replace("{tmp}", str(tmp_path)) + out.stderr.strip().split(message.replace("{tmp}", str(tmp_path)))[1]]
    assert "Traceback" not in out.stderr
