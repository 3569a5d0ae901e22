"""Step-time median and p90 from a structure of fixed size, against numpy's exact percentiles."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from peft_efficiency.trackers import timing
from peft_efficiency.trackers.timing import StepTimer, StepTimeStats

STEPS = 100_000
# The documented bound: two bins of 10**(1/200) (2.3%); on smooth distributions much less. Held here to 0.5%.
RELATIVE_TOLERANCE = 0.005


def distributions() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "lognormal": rng.lognormal(np.log(0.2), 0.3, STEPS),
        "exponential": rng.exponential(0.05, STEPS) + 0.01,
        "bimodal": np.concatenate([rng.normal(0.1, 0.005, STEPS * 4 // 5), rng.normal(0.4, 0.02, STEPS // 5)]),
        "uniform": rng.uniform(1e-3, 2.0, STEPS),
    }


@pytest.mark.parametrize("name", sorted(distributions()))
def test_percentiles_match_numpy_after_100k_steps(name):
    durations = distributions()[name]
    stats = StepTimeStats()
    stats.extend(durations.tolist())
    assert not stats.exact
    for q in (50, 90, 10, 99):
        assert stats.percentile(q) == pytest.approx(np.percentile(durations, q), rel=RELATIVE_TOLERANCE), q


def test_short_runs_are_exact():
    durations = distributions()["lognormal"][:300].tolist()
    stats = StepTimeStats()
    stats.extend(durations)
    assert stats.exact
    assert stats.percentile(50) == pytest.approx(np.percentile(durations, 50), rel=1e-12)
    assert stats.percentile(90) == pytest.approx(np.percentile(durations, 90), rel=1e-12)
    assert StepTimeStats().percentile(50) is None


def test_step_timer_memory_stays_fixed_over_100k_steps(monkeypatch):
    """Known durations through the timer's own clock: warm-up kept apart, the rest summarized in bounded memory."""
    durations = distributions()["lognormal"]
    ticks = np.cumsum(np.column_stack([np.ones(STEPS), durations]).ravel()).tolist()
    clock = iter(ticks)
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    timer = StepTimer(warmup_steps=2, keep_durations=False)

    def run(steps: int) -> None:
        for _ in range(steps):
            timer.step_begin()
            timer.step_end()

    run(10_000)
    bins, state_size = len(timer.stats.counts), len(json.dumps(timer.stats.to_state()))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    run(STEPS - 10_000)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 64 * 1024  # 90,000 more steps: no per-step storage (a list of floats would hold > 700 KiB)
    assert len(timer.stats.counts) == bins and timer.durations_seconds == []
    assert len(json.dumps(timer.stats.to_state())) < 2 * state_size + 10_000  # bounded by the bins, not the steps
    summary = timer.summary()
    assert summary["steps"] == STEPS and summary["warmup_step_seconds"] == pytest.approx(durations[:2].tolist())
    assert summary["step_seconds_median"] == pytest.approx(np.percentile(durations[2:], 50), rel=RELATIVE_TOLERANCE)
    assert summary["step_seconds_p90"] == pytest.approx(np.percentile(durations[2:], 90), rel=RELATIVE_TOLERANCE)


def test_state_and_merge_keep_the_percentiles():
    """A resumed session's or another process's durations merge into the same figures as one long run."""
    durations = distributions()["bimodal"]
    rng = np.random.default_rng(1)
    durations = durations[rng.permutation(len(durations))]
    first, second = StepTimeStats(), StepTimeStats()
    first.extend(durations[:40_000].tolist())
    second.extend(durations[40_000:].tolist())
    restored = StepTimeStats.from_state(json.loads(json.dumps(first.to_state())))
    restored.merge(second)
    assert restored.count == STEPS
    for q in (50, 90):
        assert restored.percentile(q) == pytest.approx(np.percentile(durations, q), rel=RELATIVE_TOLERANCE)


def test_a_resumed_timer_continues_the_figures(monkeypatch):
    durations = distributions()["exponential"][:20_000]
    ticks = np.cumsum(np.column_stack([np.ones(len(durations)), durations]).ravel()).tolist()
    clock = iter(ticks)
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    first, resumed = StepTimer(warmup_steps=1, keep_durations=False), StepTimer(warmup_steps=1, keep_durations=False)
    for timer, steps in ((first, 12_000), (resumed, 8_000)):
        if timer is resumed:
            timer.restore(json.loads(json.dumps(first.to_state())))
        for _ in range(steps):
            timer.step_begin()
            timer.step_end()
    summary = resumed.summary()
    timed = np.concatenate([durations[1:12_000], durations[12_001:]])  # each session's first step is warm-up
    assert summary["steps"] == 20_000
    assert summary["step_seconds_median"] == pytest.approx(np.percentile(timed, 50), rel=RELATIVE_TOLERANCE)
    assert summary["step_seconds_p90"] == pytest.approx(np.percentile(timed, 90), rel=RELATIVE_TOLERANCE)
