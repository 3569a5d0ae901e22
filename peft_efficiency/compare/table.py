"""Build the comparison table: one `GroupTable` per (task, model, setting), rows ranked by quality inside it only.

The setting is the part of the run's labels that changes what is measured (see `identity.py`). Runs are ranked
by their quality metric; a run whose quality is NaN or infinite (it diverged) comes after every finite run and
is never on the Pareto frontier; ties go to the run with fewer trainable parameters, then by label and path,
so the order does not depend on the order of the inputs.

Columns relative to full fine-tuning appear where the group holds a run whose method is `full`:
speed-up = run throughput / full throughput (samples/s; median step time when a report lacks samples/s), so a
run that trains fewer epochs or samples is not faster for it; memory saved = 1 - run peak / full peak (in %), from
the training state (weights + gradients + optimizer state) instead where only process RSS was measured (CPU);
quality delta = run quality - full quality (in the metric's own units). Runs that differ only in their `seed` label are
merged into one row of means first (`repeats.py`), with standard deviations and 95% intervals (`intervals.py`) and
intervals of the relative columns (`differences.py`); the Pareto frontier is then on the means. Raw values stay in base units
(seconds, bytes, kWh, kg), `None` where not measured, never NaN; `render.py` turns them into text.

Example:
    rows, problems = load_runs(paths)
    for table in build_tables(rows):
        print(table.title, [v["method"] for v in table.values])
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from peft_efficiency.compare.differences import relative_intervals, repeat_notes
from peft_efficiency.compare.identity import assign_labels
from peft_efficiency.compare.load import RunRow, finite, metric_value
from peft_efficiency.compare.notes import group_notes
from peft_efficiency.compare.pareto import higher_is_better, pareto_front
from peft_efficiency.compare.relative import TRAINING_STATE_BASIS, memory_saved, relative_columns, relative_values
from peft_efficiency.compare.repeats import SPREAD_KEYS, merge_repeats, spread_values

BASELINE_METHOD = "full"


@dataclass
class Column:
    """One column: `key` is the machine name (units in it), `title` the header, `kind` how to show values."""

    key: str
    title: str
    kind: str
    always_shown: bool = True


@dataclass
class GroupTable:
    """The runs of one (task, model, setting), ranked by `ranked_by`, with raw values per column key.

    `setting` is the group's whole setting; `shown_setting` only the labels that tell it apart from other
    groups of the same task and model (what the title shows)."""

    task: str
    model_name: str
    ranked_by: str | None
    greater_is_better: bool
    baseline: RunRow | None
    columns: list[Column]
    rows: list[RunRow]
    values: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    setting: dict[str, str] = field(default_factory=dict)
    shown_setting: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        extra = "".join(f" · {key}={value}" for key, value in self.shown_setting.items())
        return f"{self.task} · {self.model_name}{extra}"


def _quality_metrics(rows: list[RunRow], extra_metrics: list[str]) -> list[str]:
    names = [row.primary_metric for row in rows if row.primary_metric]
    names += [m for m in extra_metrics if any(metric_value(row.quality, m) is not None for row in rows)]
    return list(dict.fromkeys(names))


class Ranking:
    """How one group is ranked: its metric, the metric's direction, and each run's place."""

    def __init__(self, rows: list[RunRow], metrics: list[str], notes: list[str]) -> None:
        primaries = Counter(row.primary_metric for row in rows if row.primary_metric)
        self.metric = primaries.most_common(1)[0][0] if primaries else (metrics[0] if metrics else None)
        if len(primaries) > 1:
            notes.append(f"runs name different primary metrics ({', '.join(primaries)}); ranked by {self.metric}")
        declared = next((r.greater_is_better for r in rows
                         if r.primary_metric == self.metric and r.greater_is_better is not None), None)
        self.higher = higher_is_better(self.metric, declared) if self.metric else True

    def raw(self, row: RunRow) -> float | None:
        return metric_value(row.quality, self.metric) if self.metric else None

    def quality(self, row: RunRow) -> float | None:
        """The ranked metric when it is a finite number, else `None`."""
        return finite(self.raw(row))

    def diverged(self, row: RunRow) -> bool:
        value = self.raw(row)
        return value is not None and not math.isfinite(value)

    def key(self, row: RunRow) -> tuple[int, float, float, str, str]:
        """Finite quality first (best first), then diverged runs, then runs without the metric; ties by cost."""
        value = self.quality(row)
        bucket = 0 if value is not None else (1 if self.diverged(row) else 2)
        score = 0.0 if value is None else (-value if self.higher else value)
        cost = row.trainable_params if row.trainable_params is not None else math.inf
        return (bucket, score, cost, row.label, str(row.source))


# Columns shown only when asked for (`compare --columns NAME`): name -> columns.
OPTIONAL_COLUMNS: dict[str, list[Column]] = {
    "overhead": [Column("overhead_seconds", "plugin overhead", "seconds"), Column("overhead_percent", "overhead %", "percent")],
    "training_state": [Column("weights_bytes", "weights", "bytes"), Column("gradients_bytes", "gradients", "bytes"),
                       Column("optimizer_state_bytes", "optimizer state", "bytes"),
                       Column("activation_peak_bytes", "activation peak", "bytes")],
}


def _columns(rows: list[RunRow], metrics: list[str], ranking: Ranking, has_baseline: bool,
             optional: tuple[str, ...] = ()) -> list[Column]:
    columns = [Column("method", "method", "text"), Column("status", "status", "text", always_shown=False)]
    if any(r.repeats is not None for r in rows):  # repeats merged: how many runs each row's means are over
        columns.append(Column("n", "n", "runs"))
    columns += [Column(m, m, "quality") for m in metrics]
    if any(ranking.diverged(r) for r in rows):
        columns.append(Column("diverged", "diverged", "flag"))
    columns.append(Column("train_seconds", "train time", "seconds"))
    if any(r.samples_per_second is not None for r in rows):
        columns.append(Column("samples_per_second", "samples/s", "rate"))
    if any(r.generation_seconds is not None for r in rows):  # RL trainers: generation is a phase of its own
        columns += [Column("generation_seconds", "generation time", "seconds"),
                    Column("generation_percent", "generation %", "percent")]
    columns += [
        Column("trainable_params", "trainable", "count"),
        Column("trainable_percent", "trainable %", "percent"),
        Column("peak_memory_bytes", "peak memory", "bytes"),
    ]
    if any(r.training_state_bytes is not None for r in rows):  # schema version 2 reports; n/a for version 1
        columns.append(Column("training_state_bytes", "training state", "bytes"))
    columns += [
        Column("energy_kwh", "energy", "kwh"),
        Column("co2_kg", "CO2", "kg"),
    ]
    if has_baseline:
        columns += [Column(key, title, kind) for key, title, kind in relative_columns(ranking.metric)]
    for name in optional:
        columns += OPTIONAL_COLUMNS[name]
    if ranking.metric:
        columns.append(Column("pareto_params", "Pareto (params)", "flag"))
    return columns


def _left_out_because(row: RunRow, ranking: Ranking) -> str | None:
    """Why a repeat is left out of its mean (it did not complete, or it diverged), or None."""
    if row.status != "completed":
        return f"status {row.status}" if row.status else "no status"
    return "diverged" if ranking.diverged(row) else None


def _figure(row: RunRow, key: str, metrics: list[str]) -> float | None:
    """One run's value of column `key` (a quality metric or a RunRow figure), when finite."""
    return finite(metric_value(row.quality, key) if key in metrics else getattr(row, key))


def build_group(rows: list[RunRow], extra_metrics: list[str] | None = None, optional: tuple[str, ...] = ()) -> GroupTable:
    """The table of runs that share a task, a model and a setting."""
    task, model_name, setting = rows[0].group
    notes: list[str] = []
    metrics = _quality_metrics(rows, list(extra_metrics or []))
    ranking = Ranking(rows, metrics, notes)
    rows, merge_notes = merge_repeats(rows, lambda r: _left_out_because(r, ranking))
    if any(r.repeats is not None for r in rows):
        assign_labels(rows)  # a merged row is labelled by its method, like a single run
    rows = sorted(rows, key=ranking.key)
    baselines = sorted((r for r in rows if r.method.lower() == BASELINE_METHOD),
                       key=lambda r: (r.status != "completed", ranking.diverged(r)))
    baseline = baselines[0] if baselines else None
    if len(baselines) > 1:
        notes.append(f"{len(baselines)} full fine-tuning runs; relative columns use {baseline.source}")

    front = set(pareto_front([(r.trainable_params, ranking.quality(r)) for r in rows], True, ranking.higher))
    values: list[dict[str, Any]] = []
    how: dict[str, list[str]] = {}  # how each row's relative intervals were made -> the rows
    for index, row in enumerate(rows):
        value: dict[str, Any] = {
            "method": row.label, "status": row.status, "diverged": ranking.diverged(row),
            "train_seconds": row.train_seconds, "samples_per_second": row.samples_per_second,
            "generation_seconds": row.generation_seconds,
            "generation_percent": None if row.generation_share is None else 100.0 * row.generation_share,
            "trainable_params": row.trainable_params, "trainable_percent": row.trainable_percent,
            "peak_memory_bytes": row.peak_memory_bytes, "training_state_bytes": row.training_state_bytes,
            "weights_bytes": row.weights_bytes, "gradients_bytes": row.gradients_bytes,
            "optimizer_state_bytes": row.optimizer_state_bytes, "activation_peak_bytes": row.activation_peak_bytes,
            "energy_kwh": row.energy_kwh, "co2_kg": row.co2_kg,
            "overhead_seconds": row.overhead_seconds,
            "overhead_percent": None if row.overhead_share is None else 100.0 * row.overhead_share,
        }
        value.update({m: finite(metric_value(row.quality, m)) for m in metrics})
        value.update(spread_values(row, [*metrics, *SPREAD_KEYS], lambda m, key: _figure(m, key, metrics), notes))
        if baseline is not None:
            value.update(relative_values(row, baseline, ranking.quality, notes))
            intervals, way = relative_intervals(row, baseline, ranking.quality)
            value.update(intervals)
            if way:
                how.setdefault(way, []).append(row.label)
        if ranking.metric:
            usable = row.trainable_params is not None and ranking.quality(row) is not None
            value["pareto_params"] = (index in front) if usable else (False if ranking.diverged(row) else None)
        values.append(value)
    if baseline is not None and any(memory_saved(r, baseline)[1] == "training state" for r in rows):
        notes.append(TRAINING_STATE_BASIS)
    group_notes(rows, metrics, ranking, notes)
    notes += merge_notes + repeat_notes(rows, values, how)
    columns = _columns(rows, metrics, ranking, baseline is not None, optional)
    return GroupTable(task, model_name, ranking.metric, ranking.higher, baseline, columns, rows, values, notes,
                      setting=dict(setting))


def _shown_settings(tables: list[GroupTable]) -> None:
    """Give each table the setting labels that differ between groups of its task and model."""
    for table in tables:
        siblings = [t for t in tables if (t.task, t.model_name) == (table.task, table.model_name)]
        keys = sorted({k for t in siblings for k in t.setting})
        varying = [k for k in keys if len({t.setting.get(k) for t in siblings}) > 1]
        table.shown_setting = {k: table.setting[k] for k in varying if k in table.setting}


def build_tables(rows: list[RunRow], extra_metrics: list[str] | None = None, optional: tuple[str, ...] = ()) -> list[GroupTable]:
    """One table per (task, model, setting) group, groups in order of first appearance; `optional` names columns
    of `OPTIONAL_COLUMNS` to add (e.g. "overhead")."""
    groups: dict[tuple[Any, ...], list[RunRow]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    tables = [build_group(group_rows, extra_metrics, optional) for group_rows in groups.values()]
    _shown_settings(tables)
    return tables
