"""Build the comparison table: one `GroupTable` per (task, model), rows ranked by quality inside it only.

Columns relative to full fine-tuning appear where the group holds a run whose method is `full`:
speed-up = full train time / run train time; memory saved = 1 - run peak / full peak (in %);
quality delta = run quality - full quality (in the metric's own units). Raw values stay in base units
(seconds, bytes, kWh, kg); `render.py` turns them into text.

Example:
    rows, problems = load_runs(paths)
    for table in build_tables(rows):
        print(table.task, [v["method"] for v in table.values])
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from peft_efficiency.compare.load import RunRow, metric_value
from peft_efficiency.compare.pareto import higher_is_better, pareto_front

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
    """The runs of one (task, model), ranked by `ranked_by`, with raw values per column key."""

    task: str
    model_name: str
    ranked_by: str | None
    greater_is_better: bool
    baseline: RunRow | None
    columns: list[Column]
    rows: list[RunRow]
    values: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.task} · {self.model_name}"


def _quality_metrics(rows: list[RunRow], extra_metrics: list[str]) -> list[str]:
    names = [row.primary_metric for row in rows if row.primary_metric]
    names += [m for m in extra_metrics if any(metric_value(row.quality, m) is not None for row in rows)]
    return list(dict.fromkeys(names))


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def build_group(rows: list[RunRow], extra_metrics: list[str] | None = None) -> GroupTable:
    """The table of runs that share a task and a model."""
    task, model_name = rows[0].group
    notes: list[str] = []
    metrics = _quality_metrics(rows, list(extra_metrics or []))
    primaries = Counter(row.primary_metric for row in rows if row.primary_metric)
    ranked_by = primaries.most_common(1)[0][0] if primaries else (metrics[0] if metrics else None)
    if len(primaries) > 1:
        notes.append(f"runs name different primary metrics ({', '.join(primaries)}); ranked by {ranked_by}")
    declared = next((r.greater_is_better for r in rows if r.primary_metric == ranked_by and r.greater_is_better is not None), None)
    higher = higher_is_better(ranked_by, declared) if ranked_by else True

    def quality(row: RunRow) -> float | None:
        return metric_value(row.quality, ranked_by) if ranked_by else None

    def rank_key(row: RunRow) -> tuple[int, float]:
        value = quality(row)
        return (1, 0.0) if value is None else (0, -value if higher else value)

    rows = sorted(rows, key=rank_key)
    baselines = [r for r in rows if r.method.lower() == BASELINE_METHOD]
    baselines.sort(key=lambda r: r.status != "completed")
    baseline = baselines[0] if baselines else None
    if len(baselines) > 1:
        notes.append(f"{len(baselines)} full fine-tuning runs; relative columns use {baseline.source}")

    columns = [Column("method", "method", "text"), Column("status", "status", "text", always_shown=False)]
    columns += [Column(m, m, "quality") for m in metrics]
    columns += [
        Column("train_seconds", "train time", "seconds"),
        Column("trainable_params", "trainable", "count"),
        Column("trainable_percent", "trainable %", "percent"),
        Column("peak_memory_bytes", "peak memory", "bytes"),
        Column("energy_kwh", "energy", "kwh"),
        Column("co2_kg", "CO2", "kg"),
    ]
    if baseline is not None:
        columns += [
            Column("speedup_vs_full", "speed-up vs full", "ratio"),
            Column("memory_saved_vs_full_percent", "memory saved vs full", "signed_percent"),
        ]
        if ranked_by:
            columns.append(Column("quality_delta_vs_full", f"Δ {ranked_by} vs full", "delta"))
    if ranked_by:
        columns.append(Column("pareto_params", "Pareto (params)", "flag"))

    front = set(pareto_front([(r.trainable_params, quality(r)) for r in rows], True, higher))
    values: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        value: dict[str, Any] = {
            "method": row.label, "status": row.status, "train_seconds": row.train_seconds,
            "trainable_params": row.trainable_params, "trainable_percent": row.trainable_percent,
            "peak_memory_bytes": row.peak_memory_bytes, "energy_kwh": row.energy_kwh, "co2_kg": row.co2_kg,
        }
        value.update({m: metric_value(row.quality, m) for m in metrics})
        if baseline is not None:
            value["speedup_vs_full"] = _ratio(baseline.train_seconds, row.train_seconds)
            saved = _ratio(row.peak_memory_bytes, baseline.peak_memory_bytes)
            value["memory_saved_vs_full_percent"] = None if saved is None else 100.0 * (1.0 - saved)
            if ranked_by:
                q, q_full = quality(row), quality(baseline)
                value["quality_delta_vs_full"] = None if q is None or q_full is None else q - q_full
        if ranked_by:
            usable = row.trainable_params is not None and quality(row) is not None
            value["pareto_params"] = (index in front) if usable else None
        values.append(value)

    for row in rows:
        if row.energy_kwh is None:
            why = row.energy_reason or (f"status {row.energy_status}" if row.energy_status else "no energy figure in the report")
            notes.append(f"energy n/a for {row.label}: {why}")
    kinds = {r.peak_memory_kind for r in rows if r.peak_memory_bytes is not None}
    if kinds == {"process_rss"}:
        notes.append("peak memory is the peak resident memory of the process (CPU run), not GPU memory")
    elif len(kinds) > 1:
        notes.append(f"peak memory mixes kinds ({', '.join(sorted(str(k) for k in kinds))}); compare with care")
    return GroupTable(task, model_name, ranked_by, higher, baseline, columns, rows, values, notes)


def build_tables(rows: list[RunRow], extra_metrics: list[str] | None = None) -> list[GroupTable]:
    """One table per (task, model) group, groups in order of first appearance."""
    groups: dict[tuple[str, str], list[RunRow]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    return [build_group(group_rows, extra_metrics) for group_rows in groups.values()]
