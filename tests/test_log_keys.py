"""Issue 26 item 3: logs show what changes. On a tiny Trainer run logging every step, the figures that cannot
change (parameter counts, training-state bytes) enter the first log where they are known and then only `train()`'s
final metrics; a middle-of-run log (console line, `on_log` of a later callback, `log_history`) carries at most 8
`efficiency/*` keys, all of which change; the report keeps everything; `log_all_figures` or
$PEFT_EFFICIENCY_LOG_ALL_FIGURES puts every figure in every log. Expected key sets are written out here."""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import Trainer, TrainerCallback

from foundation_helpers import classification_dataset, lengths, tiny_bert, training_args
from peft_efficiency import EfficiencyCallback
from peft_efficiency.callbacks import ParameterCallback, ThroughputCallback
from peft_efficiency.report import load_report
from test_params import BERT_TOTAL

N = 24  # 6 optimizer steps of 4 samples
VARIABLE = "PEFT_EFFICIENCY_LOG_ALL_FIGURES"
ONCE = {"efficiency/trainable_params", "efficiency/total_params", "efficiency/trainable_percent",
        "efficiency/weights_bytes", "efficiency/gradients_bytes", "efficiency/optimizer_state_bytes",
        "efficiency/training_state_bytes"}
# a middle-of-run log on CPU: no mfu (no known peak FLOP/s), no energy before training is told to stop
MID_RUN = {"efficiency/train_seconds", "efficiency/samples_per_second", "efficiency/tokens_per_second",
           "efficiency/step_seconds_median", "efficiency/peak_memory_bytes", "efficiency/flops"}
MID_RUN_ALLOWED = MID_RUN | {"efficiency/mfu", "efficiency/energy_joules"}
STEP_SECONDS = {"efficiency/step_seconds_median", "efficiency/step_seconds_p90"}  # none after the 1 warm-up step alone
# every figure measured at a training log on CPU without energy (what each log carried before this change)
EVERY_LOG_ALL = ONCE | {"efficiency/train_seconds", "efficiency/eval_seconds", "efficiency/samples_per_second",
                        "efficiency/tokens_per_second", "efficiency/step_seconds_median", "efficiency/step_seconds_p90",
                        "efficiency/peak_memory_bytes", "efficiency/peak_rss_bytes", "efficiency/flops",
                        "efficiency/overhead_seconds", "efficiency/overhead_percent"}
EVAL = {"efficiency/eval_peak_memory_bytes", "efficiency/eval_peak_rss_bytes"}
ENERGY = {"efficiency/energy_joules", "efficiency/co2_grams", "efficiency/eval_energy_joules"}
HAS_CODECARBON = importlib.util.find_spec("codecarbon") is not None


class LogCatcher(TrainerCallback):
    """A user callback: what it sees in `on_log` is what every callback after ours (and the backends) sees."""

    def __init__(self) -> None:
        self.logs: list[dict] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs))


def efficiency_keys(entry: dict) -> set[str]:
    return {key for key in entry if key.startswith("efficiency/")}


def train(tmp_path: Path, callbacks: list, **overrides):
    """Train tiny BERT for 6 steps logging each one; returns (trainer, metrics, on_log copies, printed log dicts)."""
    catcher = LogCatcher()
    args = training_args(tmp_path, logging_steps=1, **overrides)
    trainer = Trainer(model=tiny_bert(), args=args, train_dataset=classification_dataset(N),
                      eval_dataset=classification_dataset(8, seed=5), callbacks=[*callbacks, catcher])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # PrinterCallback (disable_tqdm=True) prints each log
        result = trainer.train()
    lines = [ast.literal_eval(line) for line in printed.getvalue().splitlines() if line.startswith("{")]
    return trainer, result.metrics, catcher.logs, lines


def step_logs(entries: list[dict]) -> list[dict]:
    return [entry for entry in entries if "loss" in entry]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("default")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(VARIABLE, raising=False)
        trainer, metrics, seen, printed = train(out, [EfficiencyCallback()], eval_strategy="steps", eval_steps=3)
    return trainer, metrics, seen, printed, load_report(out)


def test_constant_figures_enter_the_first_log_then_only_the_final_metrics(default_run):
    trainer, metrics, seen, printed, report = default_run
    model = trainer.model
    optimizer = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    optimizer_state = sum(t.numel() * t.element_size() for s in optimizer.state.values() for t in s.values())
    expected = {"efficiency/trainable_params": BERT_TOTAL, "efficiency/total_params": BERT_TOTAL,
                "efficiency/trainable_percent": 100.0, "efficiency/weights_bytes": weights,
                "efficiency/gradients_bytes": weights, "efficiency/optimizer_state_bytes": optimizer_state,
                "efficiency/training_state_bytes": 2 * weights + optimizer_state}
    for entries in (step_logs(trainer.state.log_history), step_logs(seen), step_logs(printed)):
        assert len(entries) == 6
        assert efficiency_keys(entries[0]) == ONCE | MID_RUN - STEP_SECONDS  # step 1: known once its optimizer step ended
        assert all(not efficiency_keys(entry) & ONCE for entry in entries[1:])
    for entries in (step_logs(trainer.state.log_history), step_logs(seen)):  # (the console prints floats as text)
        assert {key: entries[0][key] for key in ONCE} == expected
    for key, value in expected.items():
        assert metrics[key] == value and trainer.state.log_history[-1][key] == value
    assert (report["params"]["trainable"], report["params"]["total"]) == (BERT_TOTAL, BERT_TOTAL)
    assert {key: report["memory"][key] for key in ("weights_bytes", "gradients_bytes", "optimizer_state_bytes",
                                                   "training_state_bytes")} == {
        key.removeprefix("efficiency/"): value for key, value in expected.items() if key.endswith("_bytes")}


def test_middle_of_run_logs_carry_at_most_8_keys_that_change(default_run):
    trainer, _, seen, printed, _ = default_run
    for entries in (step_logs(trainer.state.log_history), step_logs(seen), step_logs(printed)):
        later = entries[1:]
        assert all(len(efficiency_keys(entry)) <= 8 and efficiency_keys(entry) <= MID_RUN_ALLOWED for entry in later)
        assert all(efficiency_keys(entry) >= MID_RUN for entry in later)
        assert all(efficiency_keys(entry) - MID_RUN <= {"efficiency/energy_joules"} for entry in later)
    history = step_logs(trainer.state.log_history)
    for key in ("efficiency/train_seconds", "efficiency/flops"):  # both grow with every step
        values = [entry[key] for entry in history]
        assert all(a < b for a, b in zip(values, values[1:])), (key, values)
    samples = [entry["efficiency/samples_per_second"] * entry["efficiency/train_seconds"] for entry in history]
    assert samples == pytest.approx([4 * step for step in range(1, 7)], rel=1e-9)  # each log's rate: samples so far
    last = history[-1]
    assert last["efficiency/tokens_per_second"] * last["efficiency/train_seconds"] == pytest.approx(sum(lengths(N)), rel=1e-9)


def test_evaluation_logs_carry_their_own_metrics_only(default_run):
    trainer, _, seen, printed, _ = default_run
    for entries in (trainer.state.log_history, seen, printed):
        evaluations = [entry for entry in entries if "eval_loss" in entry]
        assert len(evaluations) == 2  # steps 3 and 6
        assert all("eval_runtime" in entry and not efficiency_keys(entry) for entry in evaluations)


def test_train_metrics_and_the_report_keep_every_figure(default_run):
    trainer, metrics, seen, printed, report = default_run
    full = ONCE | (EVERY_LOG_ALL - ONCE) | EVAL | (ENERGY if HAS_CODECARBON else set())
    assert efficiency_keys(metrics) == full
    assert efficiency_keys(trainer.state.log_history[-1]) == full  # train()'s own log entry
    assert efficiency_keys(seen[-1]) == full and efficiency_keys(printed[-1]) == full  # what backends and the console got
    assert "train_runtime" in seen[-1]
    time_section, memory = report["time"], report["memory"]
    assert metrics["efficiency/train_seconds"] == time_section["train_seconds"]
    assert metrics["efficiency/tokens_per_second"] == time_section["tokens_per_second"]
    assert time_section["tokens"] == sum(lengths(N)) and time_section["samples"] == N
    assert metrics["efficiency/step_seconds_p90"] == time_section["step_seconds_p90"]
    assert metrics["efficiency/eval_seconds"] == time_section["eval_seconds"] > 0
    assert metrics["efficiency/peak_rss_bytes"] == memory["peak_rss_bytes"]
    assert metrics["efficiency/eval_peak_memory_bytes"] == memory["eval_peak_memory_bytes"]
    assert metrics["efficiency/flops"] == report["flops"]["flops"]
    assert metrics["efficiency/overhead_seconds"] == report["overhead"]["overhead_seconds"]
    if HAS_CODECARBON:
        assert metrics["efficiency/energy_joules"] == pytest.approx(report["energy"]["energy_kwh"] * 3.6e6)


def assert_every_log_has_everything(trainer: Trainer, metrics: dict, seen: list[dict]) -> None:
    for entries in (step_logs(trainer.state.log_history), step_logs(seen)):
        assert len(entries) == 6
        assert efficiency_keys(entries[0]) == EVERY_LOG_ALL - STEP_SECONDS
        assert all(efficiency_keys(entry) == EVERY_LOG_ALL for entry in entries[1:])
    assert efficiency_keys(metrics) == EVERY_LOG_ALL


def test_log_all_figures_argument_puts_every_figure_in_every_log(tmp_path, monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    trainer, metrics, seen, _ = train(tmp_path, [EfficiencyCallback(energy=False, log_all_figures=True)])
    assert_every_log_has_everything(trainer, metrics, seen)


def test_environment_variable_puts_every_figure_in_every_log(tmp_path, monkeypatch):
    monkeypatch.setenv(VARIABLE, "yes")
    trainer, metrics, seen, _ = train(tmp_path, [EfficiencyCallback(energy=False)])
    assert_every_log_has_everything(trainer, metrics, seen)


def test_the_argument_overrides_the_variable_and_per_concern_callbacks_take_it(tmp_path, monkeypatch):
    monkeypatch.setenv(VARIABLE, "1")
    trainer, metrics, seen, _ = train(tmp_path / "off", [EfficiencyCallback(energy=False, log_all_figures=False)])
    assert [len(efficiency_keys(entry)) for entry in step_logs(seen)] == [12, 6, 6, 6, 6, 6]
    monkeypatch.setenv(VARIABLE, "off")
    # two callbacks share one session; the one asking for every figure decides for the session
    trainer, metrics, seen, _ = train(tmp_path / "pair", [ParameterCallback(), ThroughputCallback(log_all_figures=True)])
    counted = {"efficiency/trainable_params", "efficiency/total_params", "efficiency/trainable_percent",
               "efficiency/train_seconds", "efficiency/eval_seconds", "efficiency/samples_per_second",
               "efficiency/tokens_per_second", "efficiency/step_seconds_median", "efficiency/step_seconds_p90",
               "efficiency/overhead_seconds", "efficiency/overhead_percent"}
    assert all(efficiency_keys(entry) == counted for entry in step_logs(seen)[1:])


def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv(VARIABLE, "maybe")
    with pytest.raises(ValueError) as error:
        EfficiencyCallback()
    assert str(error.value) == "PEFT_EFFICIENCY_LOG_ALL_FIGURES='maybe': expected 1/true/yes/on or 0/false/no/off"
    with pytest.raises(ValueError, match="^PEFT_EFFICIENCY_LOG_ALL_FIGURES='maybe'"):
        ThroughputCallback()
    monkeypatch.delenv(VARIABLE)
    with pytest.raises(TypeError, match="^log_all_figures must be True or False, got str 'yes'$"):
        EfficiencyCallback(log_all_figures="yes")


def run_command(tmp_path: Path, value: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEFT_EFFICIENCY_") and k != "PYTHONPATH"}
    command = [str(Path(sys.executable).parent / "peft-efficiency"), "run", "--", sys.executable, "-c", "print('started')"]
    return subprocess.run(command, cwd=tmp_path, env={**env, VARIABLE: value}, capture_output=True, text=True, timeout=120)


def test_peft_efficiency_run_checks_the_variable_before_starting(tmp_path):
    bad = run_command(tmp_path, "sometimes")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == ("peft-efficiency run: PEFT_EFFICIENCY_LOG_ALL_FIGURES='sometimes': expected 1/true/yes/on "
                          "or 0/false/no/off; fix or unset PEFT_EFFICIENCY_LOG_ALL_FIGURES\n")
    good = run_command(tmp_path, "true")
    assert good.returncode == 0 and good.stdout == "started\n" and good.stderr == ""  # known: no "a typo?" warning
