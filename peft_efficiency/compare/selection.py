"""What a figure of a large group shows: a Pareto panel at most `PARETO_RUNS_PER_PANEL` runs (its own frontier
first, then the best by quality), the bars at most `BAR_RUNS` (the best by quality); all runs stay in the table.
Labels and titles are shortened to fit (`shorten`); the table, CSV and JSON keep every run and every label whole.

Example:
    view = plotted_view(table, ["train_seconds"], PARETO_RUNS_PER_PANEL)
    view.table.rows       # the runs drawn (the frontier of quality vs train time, then the best), labels shortened
    caption(table, PARETO_RUNS_PER_PANEL, "its Pareto frontier, then the best")   # "" when every run is drawn
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass

from peft_efficiency.compare.load import finite
from peft_efficiency.compare.pareto import pareto_front
from peft_efficiency.compare.table import GroupTable

PARETO_RUNS_PER_PANEL = 12
BAR_RUNS = 25
LABEL_CHARS = 32  # a point label or a bar's name
TITLE_CHARS = 110  # a figure or section title
AXIS_CHARS = 48  # an axis label (the quality metric's name)
SLUG_CHARS = 40  # one part of a figure's file name


def shorten(text: str, limit: int) -> str:
    """`text` when it has at most `limit` characters, else its start and its end joined by '…' (`limit` in all),
    so labels that differ only at their end (run names, seeds) stay apart."""
    if len(text) <= limit:
        return text
    tail = (limit - 1) // 3
    head = limit - 1 - tail
    return f"{text[:head]}…{text[len(text) - tail:]}" if tail else text[: limit - 1] + "…"


def slug(text: str) -> str:
    """A file-name part: letters and digits joined by '-', at most SLUG_CHARS (a longer one ends in a hash of the
    whole text, so two long names that share a start still get two files)."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "group"
    if len(name) <= SLUG_CHARS:
        return name
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{name[: SLUG_CHARS - 9].rstrip('-')}-{digest}"


@dataclass
class PlottedView:
    """A group's runs as a figure shows them: `table` (a subset, labels shortened), and whether the frontier alone
    was more than the limit (then the frontier drawn is among the runs shown)."""

    table: GroupTable
    frontier_capped: bool = False


def frontier_runs(table: GroupTable, cost_keys: list[str]) -> list[int]:
    """Indices of the runs on the frontier of quality against any of `cost_keys`, in table order."""
    if table.ranked_by is None:
        return []
    quality = [finite(v.get(table.ranked_by)) for v in table.values]
    front: set[int] = set()
    for key in cost_keys:
        points = [(finite(v.get(key)), q) for v, q in zip(table.values, quality)]
        front |= set(pareto_front(points, True, table.greater_is_better))
    return sorted(front)


def plotted_view(table: GroupTable, cost_keys: list[str], limit: int) -> PlottedView:
    """At most `limit` runs of `table`: those on the frontier against `cost_keys` first, then the best (table
    order); each run's label shortened to LABEL_CHARS."""
    total = len(table.rows)
    chosen = list(range(total))
    front: list[int] = []
    if total > limit:
        front = frontier_runs(table, cost_keys)
        taken = set(front)
        chosen = sorted((front + [i for i in range(total) if i not in taken])[:limit])  # table order: best first
    values = [{**table.values[i], "method": shorten(str(table.values[i]["method"]), LABEL_CHARS)} for i in chosen]
    subset = dataclasses.replace(table, rows=[table.rows[i] for i in chosen], values=values)
    return PlottedView(subset, frontier_capped=len(front) > limit)


def caption(table: GroupTable, limit: int, which: str) -> str:
    """The line a figure adds when it shows only part of a group ("" when the group fits)."""
    if len(table.rows) <= limit:
        return ""
    best = f"the best by {shorten(table.ranked_by, AXIS_CHARS)}" if table.ranked_by else "the first in the table"
    return f"showing at most {limit} of {len(table.rows)} runs{which}{best}; every run is in the table"
