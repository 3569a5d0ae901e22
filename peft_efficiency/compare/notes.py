"""The notes under a group's table about its runs (what is missing, diverged or measured differently).

Example:
    notes: list[str] = []
    group_notes(rows, ["eval_accuracy"], ranking, notes)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from peft_efficiency.compare.load import RunRow, metric_value

if TYPE_CHECKING:
    from peft_efficiency.compare.table import Ranking


def group_notes(rows: list[RunRow], metrics: list[str], ranking: Ranking, notes: list[str]) -> None:
    """Add the notes under a group's table: stale or lost runs, diverged runs and figures, missing energy,
    version-1 reports without training state, and what kind of peak memory was measured."""
    for row in rows:
        if row.status_reason:
            notes.append(f"{row.label} is {row.status}: {row.status_reason}")
        if ranking.diverged(row):
            notes.append(f"{row.label} diverged ({ranking.metric} is {ranking.raw(row)}): ranked after every finite "
                         "run and left off the Pareto frontier")
        for metric in metrics:
            value = metric_value(row.quality, metric)
            if metric != ranking.metric and value is not None and not math.isfinite(value):
                notes.append(f"{metric} of {row.label} is {value}; shown as n/a")
        if row.energy_kwh is None:
            why = row.energy_reason or (f"status {row.energy_status}" if row.energy_status else "no energy figure in the report")
            notes.append(f"energy n/a for {row.label}: {why}")
    lacking = [r.label for r in rows if r.training_state_bytes is None and r.schema_version == 1]
    if lacking and len(lacking) < len(rows):
        notes.append(f"training state n/a for {', '.join(lacking)}: version-1 report(s), written before it was measured")
    kinds = {r.peak_memory_kind for r in rows if r.peak_memory_bytes is not None}
    if kinds == {"process_rss"}:
        notes.append("peak memory is the peak resident memory of the process (CPU run), not GPU memory")
    elif len(kinds) > 1:
        notes.append(f"peak memory mixes kinds ({', '.join(sorted(str(k) for k in kinds))}); compare with care")
