"""Intervals of the columns relative to full fine-tuning when either side merges repeated runs.

Paired per seed when both rows have the same seeds (two or more): the speed-up, memory saved and quality delta of
each seed's pair of runs, then their mean and Student-t 95% interval; the speed-up, a ratio, is averaged on the log
scale (the geometric mean of the per-seed ratios, its interval the exponentiated t interval of their logarithms,
so it stays above 0 and a 2x and a 0.5x seed average to 1x). Otherwise a bootstrap: each side's runs resampled with replacement (2,000 times, RNG seed 0), the
figure computed from the resampled means, the 2.5th and 97.5th percentiles (a side with one run adds no noise).
An interval that holds "no difference" (speed-up 1, memory saved 0%, delta 0) is marked.

Example:
    values, how = relative_intervals(lora_row, full_row, quality)   # how: "paired", "bootstrap" or None
"""

from __future__ import annotations

import math
from typing import Any, Callable

from peft_efficiency.compare.intervals import T_NOTE, bootstrap_interval, includes, summarize
from peft_efficiency.compare.load import RunRow
from peft_efficiency.compare.relative import memory_saved, speedup
from peft_efficiency.compare.repeats import SEED_LABEL

NULLS = {"speedup_vs_full": 1.0, "memory_saved_vs_full_percent": 0.0, "quality_delta_vs_full": 0.0}
PAIRED = ("paired per seed (Student t intervals of each seed's difference; the speed-up: geometric mean of each "
          "seed's ratio, t interval of their logarithms)")
BOOTSTRAP = "bootstrap (2,000 resamples of each side's runs, RNG seed 0, 2.5-97.5 percentiles)"
MARK_NOTE = ("≈: the 95% interval includes no difference (speed-up 1x, memory saved 0%, quality delta 0): the "
             "difference from full fine-tuning is within the noise of the repeats")


def members(row: RunRow) -> list[RunRow]:
    return [row] if row.repeats is None else list(row.repeats.members)


def _figures(row: RunRow, baseline: RunRow, quality: Callable[[RunRow], float | None]) -> dict[str, float | None]:
    q, q_full = quality(row), quality(baseline)
    return {"speedup_vs_full": speedup(row, baseline)[0], "memory_saved_vs_full_percent": memory_saved(row, baseline)[0],
            "quality_delta_vs_full": None if q is None or q_full is None else q - q_full}


def _paired(row: RunRow, baseline: RunRow, quality: Callable[[RunRow], float | None]) -> dict[str, Any]:
    base_by_seed = {str(m.labels.get(SEED_LABEL)): m for m in members(baseline)}
    pairs = [_figures(m, base_by_seed[str(m.labels.get(SEED_LABEL))], quality) for m in members(row)]
    values: dict[str, Any] = {}
    for key in NULLS:
        if key == "speedup_vs_full":  # a ratio: averaged on the log scale
            summary = summarize([math.log(p[key]) for p in pairs if p[key] is not None and p[key] > 0])
            values.update({key: _exp(summary.mean), f"{key}_ci_low": _exp(summary.low),
                           f"{key}_ci_high": _exp(summary.high)})
            continue
        summary = summarize([p[key] for p in pairs if p[key] is not None])
        values.update({key: summary.mean, f"{key}_ci_low": summary.low, f"{key}_ci_high": summary.high})
    return values


def _exp(value: float | None) -> float | None:
    return None if value is None else math.exp(value)


def _side(row: RunRow, read: Callable[[RunRow], float | None]) -> list[float]:
    return [v for v in (read(m) for m in members(row)) if v is not None]


def _bootstrap(row: RunRow, baseline: RunRow, quality: Callable[[RunRow], float | None]) -> dict[str, Any]:
    """Intervals on the same basis (samples/s or step time; peak or training state) as the point figures."""
    values: dict[str, Any] = {}
    _, speed_basis = speedup(row, baseline)
    _, memory_basis = memory_saved(row, baseline)
    plans: dict[str, tuple[Callable[[RunRow], Any], Callable[[float, float], float | None]] | None] = {
        "speedup_vs_full": None if speed_basis is None else (
            (lambda r: r.samples_per_second, lambda a, b: a / b if b else None) if speed_basis == "samples/s"
            else (lambda r: r.step_seconds_median, lambda a, b: b / a if a else None)),
        "memory_saved_vs_full_percent": None if memory_basis is None else (
            (lambda r: r.training_state_bytes) if memory_basis == "training state" else (lambda r: r.peak_memory_bytes),
            lambda a, b: 100.0 * (1.0 - a / b) if b else None),
        "quality_delta_vs_full": (quality, lambda a, b: a - b),
    }
    for key, plan in plans.items():
        interval = None if plan is None else bootstrap_interval(_side(row, plan[0]), _side(baseline, plan[0]), plan[1])
        low, high = interval if interval else (None, None)
        values.update({f"{key}_ci_low": low, f"{key}_ci_high": high})
    return values


def relative_intervals(row: RunRow, baseline: RunRow,
                       quality: Callable[[RunRow], float | None]) -> tuple[dict[str, Any], str | None]:
    """Interval (and, paired, the point figure) of each relative column of `row`, with the no-difference mark;
    and how they were computed ("paired", "bootstrap", or None when both rows are single runs or `row` is the
    baseline)."""
    if row is baseline or (row.repeats is None and baseline.repeats is None):
        return {}, None
    seeds = [str(m.labels.get(SEED_LABEL)) for m in members(row)]
    base_seeds = [str(m.labels.get(SEED_LABEL)) for m in members(baseline)]
    if len(seeds) >= 2 and sorted(seeds) == sorted(base_seeds):
        values, how = _paired(row, baseline, quality), "paired"
    else:
        values, how = _bootstrap(row, baseline, quality), "bootstrap"
    for key, null in NULLS.items():
        values[f"{key}_no_difference"] = includes(values.get(f"{key}_ci_low"), values.get(f"{key}_ci_high"), null)
    return values, how


def repeat_notes(rows: list[RunRow], values: list[dict[str, Any]], how: dict[str, list[str]]) -> list[str]:
    """The notes that say how a group's means, intervals and marks were made (none without repeats)."""
    if not any(r.repeats is not None for r in rows):
        return []
    notes = [f"a figure shown as 'mean ±sd [low, high]' merges runs that differ only in seed: mean, standard "
             f"deviation and 95% confidence interval of the mean ({T_NOTE}); n is the number of runs in the mean"]
    ways = [f"{text} for {', '.join(how[key])}" for key, text in (("paired", PAIRED), ("bootstrap", BOOTSTRAP))
            if key in how]
    if ways:
        notes.append("intervals of the columns relative to full fine-tuning: " + "; ".join(ways))
    if any(v.get(f"{key}_no_difference") for v in values for key in NULLS):
        notes.append(MARK_NOTE)
    return notes
