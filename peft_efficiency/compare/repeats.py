"""Merge repeated runs: runs of one group and method whose labels are the same except `seed` (what
`peft-efficiency grid --repeats` writes) become one row of means, with n, standard deviation and a 95% interval.

Never merged: runs without a `seed` label (shown one by one, as before); runs whose labels differ in anything but
the seed (another learning rate, entry, note...); repeats that disagree on what was trained (trainable parameters or
samples). Left out of the mean and counted ("3 of 4 runs"): a repeat that did not complete or whose quality
diverged. Two runs with the same seed are duplicates, not repeats: only the first (by path) is in the mean, and a
note names the others.

Example:
    merged, notes = merge_repeats(rows, usable=lambda r: (r.status == "completed", None))
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from peft_efficiency.compare.intervals import summarize
from peft_efficiency.compare.load import RunRow, finite

SEED_LABEL = "seed"
AVERAGED = ("train_seconds", "samples", "samples_per_second", "step_seconds_median", "generation_seconds",
            "generation_share", "trainable_params", "total_params", "trainable_percent", "peak_memory_bytes",
            "weights_bytes", "gradients_bytes", "optimizer_state_bytes", "training_state_bytes",
            "activation_peak_bytes", "energy_kwh", "co2_kg", "overhead_seconds", "overhead_share")
SAME_WORK = (("trainable_params", "trainable parameters"), ("samples", "samples trained"))
# Column keys shown with standard deviation and interval (the quality metrics are added by the table).
SPREAD_KEYS = ("train_seconds", "samples_per_second", "peak_memory_bytes", "training_state_bytes", "energy_kwh",
               "co2_kg")
# Figures that cannot be negative: a t interval reaching below 0 (few, widely spread runs) is cut at 0.
NON_NEGATIVE = frozenset(SPREAD_KEYS)
CUT_NOTE = ("an interval of a figure that cannot be negative (time, throughput, memory, energy, CO2) whose t interval "
            "reached below 0 is cut at 0: the runs are too few or too spread to bound it from below")


@dataclass
class Repeats:
    """The runs merged into one row: `members` (in the mean), `left_out` (run, why) and `duplicates`."""

    members: list[RunRow]
    left_out: list[tuple[RunRow, str]] = field(default_factory=list)
    duplicates: list[RunRow] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.members) + len(self.left_out) + len(self.duplicates)

    def seeds(self) -> list[str]:
        return [str(m.labels.get(SEED_LABEL)) for m in self.members]


def repeat_key(row: RunRow) -> tuple[Any, ...]:
    """What repeats share: group, method and every label but the seed."""
    labels = tuple(sorted((str(k), str(v)) for k, v in row.labels.items() if k != SEED_LABEL))
    return (row.group, row.method, labels)


def _mean(rows: list[RunRow], name: str) -> float | None:
    values = [getattr(r, name) for r in rows if finite(getattr(r, name)) is not None]
    if values and all(v == values[0] for v in values):
        return values[0]  # the same in every run (parameter counts): kept as it is, an int stays an int
    return sum(values) / len(values) if values else None


def _merged_row(repeats: Repeats) -> RunRow:
    """One row of means over the members; its source is the members' common folder."""
    members = repeats.members
    metrics = {key for m in members for key in m.quality}
    quality = {}
    for key in metrics:
        values = [v for v in (finite(m.quality.get(key)) for m in members) if v is not None]
        if values:
            quality[key] = sum(values) / len(values)
    names = {m.run_name for m in members}
    common = Path(os.path.commonpath([str(m.source.resolve().parent) for m in members]))
    labels = {k: v for k, v in members[0].labels.items() if k != SEED_LABEL}
    merged = dataclasses.replace(members[0], source=common, run_name=names.pop() if len(names) == 1 else None,
                                 labels=labels, status="completed", status_reason=None, quality=quality,
                                 repeats=repeats, **{name: _mean(members, name) for name in AVERAGED})
    return merged


def _differing_work(members: list[RunRow]) -> str | None:
    for name, words in SAME_WORK:
        values = sorted({getattr(m, name) for m in members if getattr(m, name) is not None})
        if len(values) > 1:
            return f"{words} ({', '.join(f'{v:g}' for v in values)})"
    return None


def _split(rows: list[RunRow], usable: Callable[[RunRow], str | None], notes: list[str]) -> Repeats:
    """Sort one set of repeats into members, left-out runs and duplicates (a note for each left out)."""
    repeats = Repeats(members=[])
    by_seed: dict[str, RunRow] = {}
    for row in sorted(rows, key=lambda r: str(r.source)):
        why = usable(row)
        seed = str(row.labels.get(SEED_LABEL))
        if why:
            repeats.left_out.append((row, why))
        elif seed in by_seed:
            repeats.duplicates.append(row)
            notes.append(f"{row.method}: seed {seed} appears twice ({by_seed[seed].source} and {row.source}) with the "
                         f"same setting: a duplicate, not a repeat; only {by_seed[seed].source} is in the mean")
        else:
            by_seed[seed] = row
            repeats.members.append(row)
    return repeats


def merge_repeats(rows: list[RunRow], usable: Callable[[RunRow], str | None]) -> tuple[list[RunRow], list[str]]:
    """Rows with each set of repeats replaced by one merged row (order of first appearance kept), and notes.

    Args:
        rows: the runs of one group.
        usable: why a run cannot be in a mean (e.g. "failed", "diverged"), or None when it can.
    """
    notes: list[str] = []
    sets: dict[tuple[Any, ...], list[RunRow]] = {}
    for row in rows:
        if row.labels.get(SEED_LABEL) is not None:
            sets.setdefault(repeat_key(row), []).append(row)
    result: list[RunRow] = []
    done: set[tuple[Any, ...]] = set()
    for row in rows:
        key = repeat_key(row)
        members = sets.get(key) if row.labels.get(SEED_LABEL) is not None else None
        if not members or len(members) == 1:
            result.append(row)
            continue
        if key in done:
            continue
        done.add(key)
        repeats = _split(members, usable, notes)
        differing = _differing_work(repeats.members)
        if not repeats.members or differing:
            if differing:
                notes.append(f"{row.method} runs with seeds {', '.join(repeats.seeds())} differ in {differing}: "
                             "not merged, shown one by one")
            result += members
            continue
        result.append(_merged_row(repeats))
        if repeats.left_out:
            left = ", ".join(f"{r.source} ({why})" for r, why in repeats.left_out)
            notes.append(f"{row.method}: {len(repeats.members)} of {repeats.total} runs in the mean; left out {left}")
    return result, notes


def spread_values(row: RunRow, keys: list[str], figure: Callable[[RunRow, str], float | None],
                  notes: list[str]) -> dict[str, Any]:
    """n (and n_runs) of a row, and for a merged row `<key>_sd`, `<key>_ci_low`, `<key>_ci_high` of each key
    (`figure(member, key)` reads one member's value); a note where a figure is missing from some runs in the mean."""
    repeats = row.repeats
    if repeats is None:
        return {"n": 1, "n_runs": 1}
    values: dict[str, Any] = {"n": len(repeats.members), "n_runs": repeats.total}
    for key in keys:
        summary = summarize([v for v in (figure(m, key) for m in repeats.members) if v is not None])
        low = summary.low
        if low is not None and low < 0 and key in NON_NEGATIVE:
            low = 0.0
            if CUT_NOTE not in notes:
                notes.append(CUT_NOTE)
        values.update({f"{key}_sd": summary.sd, f"{key}_ci_low": low, f"{key}_ci_high": summary.high})
        if 0 < summary.n < len(repeats.members):
            notes.append(f"{key} of {row.label} is the mean of the {summary.n} of its {len(repeats.members)} runs "
                         "that measured it")
    return values
