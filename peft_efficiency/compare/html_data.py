"""The data the HTML page's script reads, embedded once as JSON: per group its shown columns, the cost axes its
Pareto plot offers (in display units, log or linear), and per row the raw values of those columns, the 95%
intervals of a row that merges repeats, the method, its colour and the run's folder.

Raw values stay in base units (seconds, bytes, kWh) as in the CSV output; `null` where not measured or diverged.
The JSON is escaped so that no `<`, `>` or `&` appears in the page's `<script type="application/json">`.

Example:
    payload = page_data(build_tables(rows))
    text = script_json(payload)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from peft_efficiency.compare.load import RunRow, finite
from peft_efficiency.compare.plots import log_scale, method_colors
from peft_efficiency.compare.render import json_safe, shown_columns
from peft_efficiency.compare.selection import AXIS_CHARS, LABEL_CHARS, shorten, slug
from peft_efficiency.compare.table import GroupTable

ASSETS = Path(__file__).resolve().parent
# cost column key -> the axis name; the kind of its unit
COST_AXES = [("trainable_params", "trainable parameters", "count"), ("train_seconds", "train time", "seconds"),
             ("energy_kwh", "training energy", "kwh"), ("training_state_bytes", "training state", "bytes"),
             ("peak_memory_bytes", "peak memory", "bytes")]


def display_unit(kind: str, largest: float) -> tuple[str, float]:
    """(unit, factor from the base unit) that keeps an axis of values up to `largest` readable."""
    if kind == "seconds":
        return ("s", 1.0) if largest < 600 else (("min", 1 / 60) if largest < 36_000 else ("h", 1 / 3600))
    if kind == "kwh":
        return ("Wh", 1000.0) if largest < 1 else ("kWh", 1.0)
    if kind == "bytes":
        for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
            if largest >= size:
                return unit, 1 / size
        return "bytes", 1.0
    return "", 1.0


def cost_axes(table: GroupTable) -> list[dict[str, Any]]:
    """The cost axes the group has a figure for: key, axis title (unit, log scale), factor to display units, log."""
    axes = []
    for key, name, kind in COST_AXES:
        values = [v for v in (finite(value.get(key)) for value in table.values) if v is not None]
        if not values:
            continue
        log = log_scale(key, [v for v in values if v > 0])
        unit, factor = display_unit(kind, max(values))
        kinds = {r.peak_memory_kind for r in table.rows if r.peak_memory_kind}
        detail = ", process RSS" if key == "peak_memory_bytes" and kinds == {"process_rss"} else ""
        inside = ", ".join(filter(None, [unit + detail, "log scale" if log else ""]))
        axes.append({"key": key, "title": f"{name} ({inside})" if inside else name, "factor": factor, "log": log})
    return axes


def folder(row: RunRow) -> str:
    """The run's folder: the report's folder, or the common folder of the runs a merged row averages."""
    return str(row.source if row.repeats is not None else row.source.parent)


def group_data(table: GroupTable, index: int) -> dict[str, Any]:
    """One group's part of the page data."""
    columns = shown_columns(table)
    colors = method_colors(table)
    interval_keys = [key for key in [c.key for c in columns]
                     if any(v.get(f"{key}_ci_low") is not None for v in table.values)]
    rows = []
    for row, value in zip(table.rows, json_safe(table.values)):
        ci = {key: [value[f"{key}_ci_low"], value[f"{key}_ci_high"]] for key in interval_keys
              if value.get(f"{key}_ci_low") is not None and value.get(f"{key}_ci_high") is not None}
        label = str(value["method"])
        rows.append({"label": label, "short": shorten(label, LABEL_CHARS), "method": row.method,
                     "color": colors[row.method.lower()], "folder": folder(row), "n": value.get("n", 1),
                     "values": [value.get(c.key) for c in columns], "ci": ci})
    return {
        "id": f"group{index}",
        "file": f"comparison-{slug('-'.join([table.task, table.model_name, *table.shown_setting.values()]))}.csv",
        "ranked_by": table.ranked_by,
        "quality_title": shorten(table.ranked_by, AXIS_CHARS) if table.ranked_by else None,
        "higher": table.greater_is_better,
        "columns": [{"key": c.key, "title": c.title, "kind": c.kind} for c in columns],
        "intervals": interval_keys,
        "costs": cost_axes(table),
        "rows": rows,
    }


def page_data(tables: list[GroupTable]) -> dict[str, Any]:
    """Every group's data, in page order."""
    return {"groups": [group_data(table, index) for index, table in enumerate(tables)]}


def script_json(payload: dict[str, Any]) -> str:
    """Compact strict JSON that is safe inside a `<script>` element."""
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def asset(name: str) -> str:
    """The text of a file shipped beside this module (the page's script and style)."""
    return (ASSETS / name).read_text(encoding="utf-8")
