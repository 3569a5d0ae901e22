"""Turn `GroupTable`s into text: an aligned terminal table, Markdown, CSV and JSON.

Terminal and Markdown show human units (s/min/h, k/M/B, MiB/GiB, Wh/kWh, g/kg); CSV and JSON keep the raw
values in the units their column names carry. A figure that is missing is `n/a` (empty in CSV, null in JSON),
never 0. A diverged run's quality reads `diverged` (null in JSON, with `"diverged": true`); NaN or infinity never
reaches the output, and the JSON is strict (no bare NaN).

Example:
    print(render(build_tables(rows), "markdown"))
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from peft_efficiency.compare.selection import AXIS_CHARS, TITLE_CHARS, shorten
from peft_efficiency.compare.table import Column, GroupTable

MISSING = "n/a"
DIVERGED = "diverged"
FORMATS = ("table", "markdown", "csv", "json")
SPREAD_PARTS = ("sd", "ci_low", "ci_high", "no_difference")  # `<column key>_<part>` of a merged row


def format_seconds(value: float) -> str:
    if value < 60:
        return f"{value:.3g} s" if value < 10 else f"{value:.1f} s"
    if value < 3600:
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(round(value / 60), 60)
    return f"{hours}h {minutes:02d}m"


def format_count(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.0f}"


def format_bytes(value: float) -> str:
    gib, mib, kib = 1024**3, 1024**2, 1024
    if value >= gib:
        return f"{value / gib:.2f} GiB"
    if value >= mib:
        return f"{value / mib:.0f} MiB"
    return f"{value / kib:.0f} KiB" if value >= kib else f"{value:.0f} B"  # a tiny model's training state


def format_cell(value: Any, kind: str) -> str:
    """Text for one value of a column of the given kind; `None` is shown as n/a."""
    if value is None:
        return MISSING
    if isinstance(value, float) and not math.isfinite(value):
        return DIVERGED if kind in ("quality", "delta") else MISSING
    if kind in ("text", "runs"):  # "runs": n; `text_cells` writes "3 of 4" where runs were left out
        return str(value)
    if kind == "flag":
        return "yes" if value else "no"
    if kind == "quality":
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.4g}"
    if kind == "delta":
        return f"{value:+.4f}" if abs(value) < 100 else f"{value:+.4g}"
    if kind == "seconds":
        return format_seconds(value)
    if kind == "count":
        return format_count(value)
    if kind == "percent":
        return f"{value:.3g}%"
    if kind == "signed_percent":
        return f"{round(value) or 0:+d}%"  # no "-0%"
    if kind == "bytes":
        return format_bytes(value)
    if kind == "rate":
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    if kind == "ratio":
        return f"{value:.2f}x" if value < 10 else f"{value:.1f}x"
    if kind == "kwh":
        return f"{value:.3g} kWh" if value >= 1 else f"{value * 1000:.3g} Wh"
    if kind == "kg":
        return f"{value:.3g} kg" if value >= 1 else f"{value * 1000:.3g} g"
    raise ValueError(f"unknown column kind {kind!r}")


def spread_text(value: dict[str, Any], column: Column) -> str:
    """' ±sd [low, high]' after a merged row's mean ('' for a single run), and ' ≈' where the interval of a
    difference from full fine-tuning includes no difference."""
    key, kind = column.key, column.kind
    low, high, sd = value.get(f"{key}_ci_low"), value.get(f"{key}_ci_high"), value.get(f"{key}_sd")
    if low is None or high is None:
        return ""
    spread_kind = "quality" if kind == "delta" else ("percent" if kind == "signed_percent" else kind)
    text = f" ±{format_cell(sd, spread_kind)}" if sd is not None else ""
    text += f" [{format_cell(low, kind)}, {format_cell(high, kind)}]"
    return text + (" ≈" if value.get(f"{key}_no_difference") else "")


def shown_columns(table: GroupTable) -> list[Column]:
    """Columns shown to a person: `status` only when some run did not complete."""
    incomplete = any(v.get("status") != "completed" for v in table.values)
    return [c for c in table.columns if c.always_shown or incomplete]


def text_cells(table: GroupTable) -> tuple[list[Column], list[list[str]]]:
    """The shown columns and the text of every cell, row by row."""
    columns = shown_columns(table)

    def cell(value: dict[str, Any], column: Column) -> str:
        if column.key == table.ranked_by and value.get("diverged"):
            return DIVERGED
        if column.kind == "runs":
            n, total = value.get("n", 1), value.get("n_runs", 1)
            return f"{n} of {total}" if total != n else str(n)
        return format_cell(value.get(column.key), column.kind) + spread_text(value, column)

    return columns, [[cell(v, c) for c in columns] for v in table.values]


def heading(table: GroupTable) -> str:
    """The group's title line, shortened (the JSON output keeps the whole title and setting)."""
    count = sum(1 if r.repeats is None else r.repeats.total for r in table.rows)
    runs = f"{count} run{'s' if count != 1 else ''}"
    rows = len(table.rows)
    runs += f" in {rows} row{'s' if rows != 1 else ''}" if count != rows else ""
    title = shorten(table.title, TITLE_CHARS)
    if table.ranked_by is None:
        return f"{title} ({runs}; no quality metric to rank by)"
    direction = "higher" if table.greater_is_better else "lower"
    return f"{title} ({runs}; ranked by {shorten(table.ranked_by, AXIS_CHARS)}, {direction} is better)"


def render_terminal(tables: list[GroupTable]) -> str:
    blocks = []
    for table in tables:
        columns, cells = text_cells(table)
        widths = [max(len(c.title), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]

        def line(texts: list[str]) -> str:
            parts = [t.ljust(w) if c.kind == "text" else t.rjust(w) for t, w, c in zip(texts, widths, columns)]
            return "  ".join(parts).rstrip()

        lines = [f"== {heading(table)} ==", line([c.title for c in columns]), "  ".join("-" * w for w in widths)]
        lines += [line(row) for row in cells]
        lines += [f"  note: {note}" for note in table.notes]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def render_markdown(tables: list[GroupTable]) -> str:
    blocks = []
    for table in tables:
        columns, cells = text_cells(table)
        lines = [f"### {heading(table)}", "", "| " + " | ".join(c.title for c in columns) + " |"]
        lines.append("|" + "|".join(":---" if c.kind == "text" else "---:" for c in columns) + "|")
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in cells]
        if table.notes:
            lines += [""] + [f"- {note}" for note in table.notes]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def setting_text(setting: dict[str, str]) -> str:
    """`key=value` pairs joined by `; ` (empty for no setting)."""
    return "; ".join(f"{key}={value}" for key, value in setting.items())


def json_safe(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None, in nested lists and dicts too."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def render_csv(tables: list[GroupTable]) -> str:
    """One flat CSV: task, model_name, setting and report path first, then the union of all groups' columns."""
    keys: list[str] = []
    for table in tables:
        for column in table.columns:
            spread = [f"{column.key}_{part}" for part in SPREAD_PARTS
                      if any(v.get(f"{column.key}_{part}") is not None for v in table.values)]
            keys += [k for k in ([column.key, "n_runs"] if column.key == "n" else [column.key, *spread]) if k not in keys]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["task", "model_name", "setting", "report", *keys])
    for table in tables:
        for row, value in zip(table.rows, json_safe(table.values)):
            cells = ["" if value.get(k) is None else value[k] for k in keys]
            writer.writerow([table.task, table.model_name, setting_text(table.setting), str(row.source), *cells])
    return buffer.getvalue()


def tables_as_dicts(tables: list[GroupTable]) -> list[dict[str, Any]]:
    """JSON-ready groups: columns (key, title), runs (raw values, null when missing) and notes."""
    return [
        {
            "task": t.task,
            "model_name": t.model_name,
            "setting": t.setting,
            "title": t.title,
            "ranked_by": t.ranked_by,
            "greater_is_better": t.greater_is_better,
            "baseline": None if t.baseline is None else str(t.baseline.source),
            "columns": [{"key": c.key, "title": c.title} for c in t.columns],
            "runs": [{"report": str(r.source), **v, **merged_reports(r)} for r, v in zip(t.rows, t.values)],
            "notes": t.notes,
        }
        for t in tables
    ]


def merged_reports(row: Any) -> dict[str, Any]:
    """For a merged row: its runs' reports (in the mean), seeds, and the reports left out (why) or duplicated."""
    if row.repeats is None:
        return {}
    repeats = row.repeats
    return {"reports": [str(m.source) for m in repeats.members], "seeds": repeats.seeds(),
            "left_out": [{"report": str(r.source), "reason": why} for r, why in repeats.left_out],
            "duplicates": [str(r.source) for r in repeats.duplicates]}


def render_json(tables: list[GroupTable]) -> str:
    return json.dumps(json_safe({"groups": tables_as_dicts(tables)}), indent=2, allow_nan=False) + "\n"


def render(tables: list[GroupTable], fmt: str = "table") -> str:
    """The tables in one of FORMATS."""
    renderers = {"table": render_terminal, "markdown": render_markdown, "csv": render_csv, "json": render_json}
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return renderers[fmt](tables)
