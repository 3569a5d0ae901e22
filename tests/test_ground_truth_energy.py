"""Energy readings during long phases, against what a fake codecarbon tracker handed out.

The fakes stand in for `codecarbon.OfflineEmissionsTracker` (no hardware, no network) and keep their own ground
truth: every measurement they returned and the task (phase) it belonged to, or, for the wrapping counter, the
energy a constant power really used over the time they were tracking. The tracker under test must book every
returned measurement once, to the right phase, read the counters often enough that a wrap loses nothing, and
leave no thread behind.
"""

from __future__ import annotations

import random
import threading
import time
from types import SimpleNamespace

import codecarbon
import pytest

from peft_efficiency.callbacks.energy import is_energy_part
from peft_efficiency.trackers.energy import PHASES, SAMPLER_THREAD_NAME, EnergyTracker, node_identity, summarize_energy

INTERVAL_SECONDS = 0.05


def emissions(kwh: float, seconds: float) -> SimpleNamespace:
    """An EmissionsData-like delta: half CPU, a quarter each GPU and RAM, 0.4 kg CO2 per kWh."""
    return SimpleNamespace(energy_consumed=kwh, emissions=0.4 * kwh, cpu_energy=kwh / 2, gpu_energy=kwh / 4,
                           ram_energy=kwh / 4, duration=seconds)


class LedgerTracker:
    """Returns a distinct known energy from each stop_task and writes down (task, energy, thread) for each.

    It also notes any call made while another call is still inside the tracker (two threads at once)."""

    instances: list["LedgerTracker"] = []
    fail_after: int | None = None  # stop_task raises once it has returned this many readings

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.ledger: list[tuple[str, float, str]] = []
        self.spans: list[tuple[str, float, float]] = []  # (task, started, stopped) of each reading
        self.task: str | None = None
        self.task_started = 0.0
        self.overlaps = 0
        self.stopped = False
        self._inside = threading.Lock()
        LedgerTracker.instances.append(self)

    def _enter(self):
        if not self._inside.acquire(blocking=False):
            self.overlaps += 1
            self._inside.acquire()

    def start_task(self, name=None):
        self._enter()
        try:
            assert self.task is None, "a task is already open"
            self.task, self.task_started = name, time.perf_counter()
        finally:
            self._inside.release()

    def stop_task(self, name=None):
        self._enter()
        try:
            if self.fail_after is not None and len(self.ledger) >= self.fail_after:
                raise RuntimeError("RAPL file vanished")
            time.sleep(0.001)  # widen the window in which another thread could come in
            kwh = (len(self.ledger) + 1) * 1e-7
            self.ledger.append((self.task, kwh, threading.current_thread().name))
            self.spans.append((self.task, self.task_started, time.perf_counter()))
            data = emissions(kwh, time.perf_counter() - self.task_started)
            self.task = None
            return data
        finally:
            self._inside.release()

    def stop(self):
        self.stopped = True

    def per_phase(self) -> dict[str, tuple[float, int]]:
        return {phase: (sum(k for p, k, _ in self.ledger if p == phase), sum(1 for p, _, _ in self.ledger if p == phase))
                for phase in PHASES}


@pytest.fixture
def ledger(monkeypatch):
    LedgerTracker.instances = []
    monkeypatch.setattr(LedgerTracker, "fail_after", None)
    monkeypatch.setattr(codecarbon, "OfflineEmissionsTracker", LedgerTracker)
    return LedgerTracker.instances


def sampler_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == SAMPLER_THREAD_NAME]


def assert_books_match(tracker: EnergyTracker, fake: LedgerTracker) -> None:
    truth = fake.per_phase()
    for phase in PHASES:
        part = tracker.parts[phase]
        assert part.energy_kwh == pytest.approx(truth[phase][0], rel=1e-12, abs=1e-18)
        assert part.cpu_kwh + part.gpu_kwh + part.ram_kwh == pytest.approx(truth[phase][0], rel=1e-12, abs=1e-18)
        assert part.readings == truth[phase][1]
    assert sum(p.energy_kwh for p in tracker.parts.values()) == pytest.approx(sum(k for _, k, _ in fake.ledger), rel=1e-12)


def test_a_long_phase_is_read_every_interval(ledger):
    tracker = EnergyTracker(measure_power_seconds=INTERVAL_SECONDS)
    tracker.start("train")
    time.sleep(0.5)
    tracker.switch("eval")
    assert tracker.parts["train"].readings >= 5
    tracker.stop()
    fake = ledger[0]
    assert sum(1 for _, _, thread in fake.ledger if thread == SAMPLER_THREAD_NAME) >= 4
    assert_books_match(tracker, fake)
    assert fake.overlaps == 0 and fake.stopped
    section = summarize_energy([tracker.result()], "USA", online=False)
    assert section["train"]["readings"] == tracker.parts["train"].readings and section["eval"]["readings"] >= 1
    assert section["save"] is None  # nothing was booked to checkpoint saving: no figure rather than 0


def test_phase_switches_during_sampling_lose_nothing(ledger):
    tracker = EnergyTracker(measure_power_seconds=INTERVAL_SECONDS / 5)
    tracker.start("train")
    rng = random.Random(0)
    deadline = time.perf_counter() + 1.0
    switches = 0
    while time.perf_counter() < deadline:
        tracker.switch(rng.choice(PHASES))
        switches += 1
        time.sleep(rng.uniform(0, 0.004))
    tracker.stop()
    fake = ledger[0]
    by_sampler = sum(1 for _, _, thread in fake.ledger if thread == SAMPLER_THREAD_NAME)
    assert by_sampler >= 10 and switches >= 100  # the two really did run side by side
    assert fake.overlaps == 0  # never two codecarbon calls at once
    assert_books_match(tracker, fake)
    assert fake.task is None and tracker.result()["parts"]["save"]["readings"] > 0


def test_the_sampler_thread_ends_at_stop(ledger):
    before = sampler_threads()
    tracker = EnergyTracker(measure_power_seconds=INTERVAL_SECONDS)
    tracker.start("train")
    assert len(sampler_threads()) == len(before) + 1
    assert all(thread.daemon for thread in sampler_threads())
    time.sleep(2 * INTERVAL_SECONDS)
    tracker.stop()
    assert sampler_threads() == before
    tracker.stop()  # idempotent
    readings = sum(part.readings for part in tracker.parts.values())
    time.sleep(3 * INTERVAL_SECONDS)
    assert sum(part.readings for part in tracker.parts.values()) == readings == len(ledger[0].ledger)


def test_a_sampler_failure_leaves_energy_unavailable_and_no_thread(ledger, monkeypatch):
    monkeypatch.setattr(LedgerTracker, "fail_after", 3)
    tracker = EnergyTracker(measure_power_seconds=INTERVAL_SECONDS)
    tracker.start("train")
    for _ in range(100):
        if tracker.unavailable_reason is not None:
            break
        time.sleep(INTERVAL_SECONDS)
    assert tracker.unavailable_reason == "codecarbon raised while sampling energy (train): RuntimeError: RAPL file vanished"
    for _ in range(100):  # the thread returns right after recording the failure
        if not sampler_threads():
            break
        time.sleep(0.01)
    assert sampler_threads() == [] and ledger[0].stopped
    tracker.switch("eval")
    tracker.flush_phase()
    tracker.stop()
    assert tracker.result() == {"unavailable_reason": tracker.unavailable_reason, "node": node_identity()}


class WrappingCounterTracker:
    """A RAPL-like energy counter: constant power, wraps every WRAP_SECONDS; stop_task corrects at most one wrap,
    as codecarbon does. The true energy is power times the time between the first start and the last stop."""

    instances: list["WrappingCounterTracker"] = []
    WATTS = 200.0
    WRAP_SECONDS = 0.3
    RANGE_JOULES = WATTS * WRAP_SECONDS

    def __init__(self, **kwargs):
        self.first_start: float | None = None
        self.last_stop: float | None = None
        self.opened_at = 0.0
        self.counter_at_start = 0.0
        WrappingCounterTracker.instances.append(self)

    def _counter(self, now: float) -> float:
        return (self.WATTS * now) % self.RANGE_JOULES

    def start_task(self, name=None):
        now = time.perf_counter()
        self.first_start = now if self.first_start is None else self.first_start
        self.opened_at, self.counter_at_start = now, self._counter(now)

    def stop_task(self, name=None):
        now = time.perf_counter()
        joules = self._counter(now) - self.counter_at_start
        if joules < 0:  # one wrap corrected; more are invisible to the counter
            joules += self.RANGE_JOULES
        self.last_stop = now
        return emissions(joules / 3.6e6, now - self.opened_at)

    def stop(self):
        return None


def test_a_counter_wrap_inside_a_long_phase_loses_no_energy(monkeypatch):
    WrappingCounterTracker.instances = []
    monkeypatch.setattr(codecarbon, "OfflineEmissionsTracker", WrappingCounterTracker)
    tracker = EnergyTracker(measure_power_seconds=INTERVAL_SECONDS)
    tracker.start("train")
    time.sleep(4.2 * WrappingCounterTracker.WRAP_SECONDS)  # four wraps and a bit
    tracker.stop()
    fake = WrappingCounterTracker.instances[0]
    true_kwh = WrappingCounterTracker.WATTS * (fake.last_stop - fake.first_start) / 3.6e6
    assert tracker.parts["train"].energy_kwh == pytest.approx(true_kwh, rel=0.01)
    assert tracker.parts["train"].readings >= 4 * 2  # at least two readings per wrap period


def test_checkpoint_saving_is_booked_apart_and_reported_with_readings(ledger):
    tracker = EnergyTracker(measure_power_seconds=60.0)  # no sampler reading in this short test
    tracker.start("train")
    tracker.switch("save")
    tracker.switch("train")
    tracker.switch("eval")
    tracker.stop()
    fake = ledger[0]
    assert [phase for phase, _, _ in fake.ledger] == ["train", "save", "train", "eval"]
    truth = fake.per_phase()
    prior = {"train": {"energy_kwh": 1.0, "readings": 7}, "save": {"energy_kwh": 0.5, "readings": 2}}  # an earlier session
    section = summarize_energy([tracker.result()], "USA", online=False, prior=prior)
    assert section["status"] == "measured" and section["measure_power_seconds"] == 60.0
    assert section["save"]["energy_kwh"] == pytest.approx(0.5 + truth["save"][0])
    assert section["save"]["readings"] == 2 + 1
    assert section["energy_kwh"] == pytest.approx(1.0 + truth["train"][0])  # training only: saving excluded
    assert section["train"]["readings"] == 7 + 2 and section["eval"]["readings"] == 1
    assert all(is_energy_part(section[phase]) for phase in ("train", "eval", "save"))
    assert section["generation"] is None and "generation" in PHASES  # no generate() call was booked
    assert not is_energy_part({"energy_kwh": 1.0, "readings": 2.5})


@pytest.mark.requires("transformers>=4.57")  # trainer_pt_utils.metrics_format as a function
def test_in_a_training_run_every_eval_set_is_evaluation_energy_and_the_logs_carry_joules_and_grams(ledger, tmp_path,
                                                                                                   monkeypatch):
    """Two eval sets, evaluated at steps 2 and 4. Ground truth for the phase: when `Trainer.evaluate` really ran
    (timed by a wrapper); every reading whose interval overlaps an evaluation must be booked as evaluation. The
    logged joules and grams are the report's kWh x 3.6e6 and kg x 1000, and survive the Trainer's 4-decimal print
    (the fake's readings are 1e-7 kWh apart, which kWh would print as 0)."""
    from transformers import Trainer
    from transformers.trainer_pt_utils import metrics_format

    from foundation_helpers import classification_dataset, tiny_bert, training_args
    from peft_efficiency import EfficiencyCallback
    from peft_efficiency.report import load_report

    evaluations: list[tuple[float, float]] = []
    evaluate = Trainer.evaluate

    def timed_evaluate(self, *args, **kwargs):
        began = time.perf_counter()
        try:
            return evaluate(self, *args, **kwargs)
        finally:
            evaluations.append((began, time.perf_counter()))

    monkeypatch.setattr(Trainer, "evaluate", timed_evaluate)
    sets = {"a": classification_dataset(8, seed=5), "b": classification_dataset(8, seed=6)}
    trainer = Trainer(model=tiny_bert(), args=training_args(tmp_path, max_steps=4, eval_strategy="steps", eval_steps=2),
                      train_dataset=classification_dataset(24), eval_dataset=sets,
                      callbacks=[EfficiencyCallback(quality_metric="eval_a_loss")])
    metrics = trainer.train().metrics
    fake = ledger[0]
    assert len(evaluations) == 6  # at steps 2 and 4: evaluate() over the dict, which calls evaluate() for each set
    overlapping = [task for task, started, stopped in fake.spans
                   if any(started < end and begin < stopped for begin, end in evaluations)]
    assert overlapping and set(overlapping) == {"eval"}
    report, truth = load_report(tmp_path), fake.per_phase()
    energy = report["energy"]
    assert energy["status"] == "measured"
    assert energy["energy_kwh"] == pytest.approx(truth["train"][0], rel=1e-12)
    assert energy["eval"]["energy_kwh"] == pytest.approx(truth["eval"][0], rel=1e-12)
    assert metrics["efficiency/energy_joules"] == pytest.approx(energy["energy_kwh"] * 3.6e6, rel=1e-12)
    assert metrics["efficiency/co2_grams"] == pytest.approx(energy["co2_kg"] * 1000, rel=1e-12)
    assert metrics["efficiency/eval_energy_joules"] == pytest.approx(truth["eval"][0] * 3.6e6, rel=1e-12)
    printed = metrics_format(metrics)  # what trainer.log_metrics prints: floats rounded to 4 decimals
    assert float(printed["efficiency/energy_joules"]) > 0 and float(printed["efficiency/co2_grams"]) > 0
