"""One self-contained HTML page: the comparison tables, their notes, and the plots embedded as PNG data URIs.

The page makes no external request (a Content-Security-Policy forbids any), so it can be mailed or archived.
A few lines of inline script set `data-images-loaded="<loaded>/<total>"` on `<html>` once the images are
decoded; the headless-browser test reads it.

Example:
    write_html("report.html", build_tables(rows), problems)
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
from pathlib import Path

from peft_efficiency.compare.load import Problem
from peft_efficiency.compare.render import MISSING, heading, text_cells
from peft_efficiency.compare.selection import AXIS_CHARS, shorten
from peft_efficiency.compare.table import GroupTable

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2.5rem; }
table.comparison { border-collapse: collapse; font-size: 0.9rem; }
table.comparison th, table.comparison td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.7rem; }
table.comparison th { background: #f3f3f3; text-align: right; }
table.comparison td { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.comparison td.text, table.comparison th.text { text-align: left; }
table.comparison tr.pareto td:first-child { font-weight: bold; }
td.missing { color: #999; }
ul.notes { color: #555; font-size: 0.85rem; }
div.problems { border: 1px solid #e0a000; background: #fff8e6; padding: 0.5rem 1rem; }
img.plot { display: block; max-width: 100%; margin: 1rem 0; }
p.legend { color: #555; font-size: 0.85rem; }
"""
SCRIPT = """
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  document.documentElement.setAttribute('data-images-loaded', loaded + '/' + images.length);
});
"""


def data_uri_png(png_bytes: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes).decode("ascii")


def table_html(table: GroupTable) -> str:
    """The <table> of one group; frontier rows carry class `pareto`, missing cells class `missing`."""
    columns, cells = text_cells(table)
    head = "".join(f'<th class="{"text" if c.kind == "text" else "num"}" scope="col">{html.escape(c.title)}</th>'
                   for c in columns)
    body = []
    for value, texts in zip(table.values, cells):
        row_class = ' class="pareto"' if value.get("pareto_params") else ""
        tds = []
        for column, text in zip(columns, texts):
            classes = ["text" if column.kind == "text" else "num"] + (["missing"] if text == MISSING else [])
            tds.append(f'<td class="{" ".join(classes)}" data-key="{html.escape(column.key)}">{html.escape(text)}</td>')
        body.append(f'<tr{row_class} data-method="{html.escape(str(value["method"]))}">{"".join(tds)}</tr>')
    return (f'<table class="comparison"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def group_images(table: GroupTable, rendered=None) -> list[tuple[str, str]]:
    """(alt text, data URI) of the group's figures; empty when matplotlib is not installed. `rendered` (a
    `RenderedFigures`) reuses figures drawn for other outputs."""
    from peft_efficiency.availability import is_matplotlib_available

    if not is_matplotlib_available():
        return []
    from peft_efficiency.compare.plots import has_training_state
    from peft_efficiency.compare.rendered import RenderedFigures

    rendered = rendered or RenderedFigures()
    state = has_training_state(table)
    images = []
    if table.ranked_by is not None:
        images.append((f"Pareto plots of {shorten(table.ranked_by, AXIS_CHARS)} against trainable parameters, train "
                       "time and energy" + (" and training state" if state else ""),
                       data_uri_png(rendered.get(table, "pareto", ("png",))["png"])))
    images.append(("Train time" + (", peak memory and training state" if state else " and peak memory") + " per method",
                   data_uri_png(rendered.get(table, "bars", ("png",))["png"])))
    return images


def render_html(tables: list[GroupTable], problems: list[Problem], title: str = "peft-efficiency comparison",
                rendered=None) -> str:
    """The whole page as a string (`rendered`: figures already drawn for other outputs, a `RenderedFigures`)."""
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p>{sum(len(t.rows) for t in tables)} runs in {len(tables)} group(s); generated {now}. "
             "Runs of different tasks, models or settings are never ranked together. "
             f"<b>{MISSING}</b> marks a figure that was not measured.</p>"]
    from peft_efficiency.availability import is_matplotlib_available

    if not is_matplotlib_available():
        parts.append("<p><b>No plots:</b> matplotlib is not installed (pip install 'peft-efficiency[plots]').</p>")
    if problems:
        items = "".join(f"<li>{html.escape(p.message)}</li>" for p in problems)
        parts.append(f'<div class="problems"><b>Inputs with problems</b><ul>{items}</ul></div>')
    for table in tables:
        parts.append(f"<h2>{html.escape(heading(table))}</h2>")
        parts.append(table_html(table))
        parts.append('<p class="legend">Bold method: on the Pareto frontier of quality vs trainable parameters '
                     "(no other run is both better and has fewer trainable parameters).</p>")
        if table.notes:
            parts.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in table.notes) + "</ul>")
        for alt, uri in group_images(table, rendered):
            parts.append(f'<img class="plot" alt="{html.escape(alt)}" src="{uri}">')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style><script>{SCRIPT}</script></head>\n"
        f"<body>\n{chr(10).join(parts)}\n</body></html>\n"
    )


def write_html(path: str | Path, tables: list[GroupTable], problems: list[Problem], title: str = "peft-efficiency comparison") -> Path:
    """Write the page to `path` (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(tables, problems, title), encoding="utf-8")
    return path
