"""One self-contained, interactive HTML page: per group a sortable, filterable table, a Pareto plot drawn by the
page's own script (a chosen cost axis, hover details, error bars of repeats), a CSV download, the notes and the
bar charts as PNG data URIs.

The page makes no external request (a Content-Security-Policy forbids any), so it can be mailed or archived. The
data is embedded once as JSON (`html_data.py`); the script and style are `report.js` and `report.css` beside this
module. Without JavaScript the page still shows every table and, in `<noscript>`, the static Pareto figure. The
script sets `data-ready="1"` on `<html>` once every group is drawn, and `data-images-loaded="<loaded>/<total>"`
once the images are decoded; the headless-browser tests read them.

Example:
    write_html("report.html", build_tables(rows), problems)
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
from pathlib import Path

from peft_efficiency.compare.html_data import asset, page_data, script_json
from peft_efficiency.compare.load import Problem
from peft_efficiency.compare.render import MISSING, heading, text_cells
from peft_efficiency.compare.selection import AXIS_CHARS, shorten
from peft_efficiency.compare.table import GroupTable

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
CELL_LABEL_CHARS = 60  # a label cell shows this much; its title attribute holds the whole label
NO_SCRIPT = ("Sorting, filtering, the interactive Pareto plot and the CSV download need JavaScript; "
             "the static figure and the tables follow.")


def data_uri_png(png_bytes: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes).decode("ascii")


def table_html(table: GroupTable) -> str:
    """The <table> of one group; frontier rows carry class `pareto`, missing cells class `missing`; each row its
    index in the page data (`data-index`)."""
    columns, cells = text_cells(table)
    head = "".join(f'<th class="{"text" if c.kind == "text" else "num"}" scope="col">{html.escape(c.title)}</th>'
                   for c in columns)
    body = []
    for index, (value, texts) in enumerate(zip(table.values, cells)):
        row_class = ' class="pareto"' if value.get("pareto_params") else ""
        tds = []
        for column, text in zip(columns, texts):
            classes = ["text" if column.kind == "text" else "num"] + (["missing"] if text == MISSING else [])
            key = html.escape(column.key)
            if column.key == "method":
                tds.append(f'<td class="{" ".join(classes)}" data-key="{key}" title="{html.escape(text)}">'
                           f"{html.escape(shorten(text, CELL_LABEL_CHARS))}</td>")
            else:
                tds.append(f'<td class="{" ".join(classes)}" data-key="{key}">{html.escape(text)}</td>')
        body.append(f'<tr{row_class} data-index="{index}" data-method="{html.escape(str(value["method"]))}">'
                    f'{"".join(tds)}</tr>')
    return (f'<table class="comparison"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def group_images(table: GroupTable, rendered=None) -> dict[str, tuple[str, str]]:
    """{"pareto"/"bars": (alt text, data URI)} of the group's figures; empty when matplotlib is not installed.
    `rendered` (a `RenderedFigures`) reuses figures drawn for other outputs."""
    from peft_efficiency.availability import is_matplotlib_available

    if not is_matplotlib_available():
        return {}
    from peft_efficiency.compare.plots import has_training_state
    from peft_efficiency.compare.rendered import RenderedFigures

    rendered = rendered or RenderedFigures()
    state = has_training_state(table)
    images = {}
    if table.ranked_by is not None:
        images["pareto"] = (f"Pareto plots of {shorten(table.ranked_by, AXIS_CHARS)} against trainable parameters, "
                            "train time and energy" + (" and training state" if state else ""),
                            data_uri_png(rendered.get(table, "pareto", ("png",))["png"]))
    images["bars"] = ("Train time" + (", peak memory and training state" if state else " and peak memory")
                      + " per method", data_uri_png(rendered.get(table, "bars", ("png",))["png"]))
    return images


def group_section(table: GroupTable, index: int, rendered=None) -> str:
    """One group: heading, the script's controls and plot, the table, its notes and figures."""
    images = group_images(table, rendered)
    parts = [f'<section class="group" id="group{index}" data-group="{index}">',
             f"<h2>{html.escape(heading(table))}</h2>", '<div class="controls"></div><div class="plot-box"></div>']
    if "pareto" in images:
        alt, uri = images["pareto"]
        parts.append(f'<noscript><img class="plot" alt="{html.escape(alt)}" src="{uri}"></noscript>')
    parts.append(f'<div class="table-scroll">{table_html(table)}</div>')
    parts.append('<p class="legend">Bold method: on the Pareto frontier of quality vs trainable parameters '
                 "(no other run is both better and has fewer trainable parameters). Click a header to sort.</p>")
    if table.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in table.notes) + "</ul>")
    if "bars" in images:
        alt, uri = images["bars"]
        parts.append(f'<img class="plot" alt="{html.escape(alt)}" src="{uri}">')
    return "\n".join(parts + ["</section>"])


def render_html(tables: list[GroupTable], problems: list[Problem], title: str = "peft-efficiency comparison",
                rendered=None) -> str:
    """The whole page as a string (`rendered`: figures already drawn for other outputs, a `RenderedFigures`)."""
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runs = sum(1 if r.repeats is None else r.repeats.total for t in tables for r in t.rows)
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p>{runs} runs in {len(tables)} group(s); generated {now}. "
             "Runs of different tasks, models or settings are never ranked together. "
             f"<b>{MISSING}</b> marks a figure that was not measured.</p>",
             f'<noscript><p class="nojs">{NO_SCRIPT}</p></noscript>']
    from peft_efficiency.availability import is_matplotlib_available

    if not is_matplotlib_available():
        parts.append("<p><b>No bar charts:</b> matplotlib is not installed (pip install 'peft-efficiency[plots]').</p>")
    if problems:
        items = "".join(f"<li>{html.escape(p.message)}</li>" for p in problems)
        parts.append(f'<div class="problems"><b>Inputs with problems</b><ul>{items}</ul></div>')
    parts += [group_section(table, index, rendered) for index, table in enumerate(tables)]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{asset('report.css')}</style></head>\n"
        f"<body>\n{chr(10).join(parts)}\n"
        f'<script type="application/json" id="report-data">{script_json(page_data(tables))}</script>\n'
        f"<script>{asset('report.js')}</script>\n</body></html>\n"
    )


def write_html(path: str | Path, tables: list[GroupTable], problems: list[Problem], title: str = "peft-efficiency comparison") -> Path:
    """Write the page to `path` (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(tables, problems, title), encoding="utf-8")
    return path
