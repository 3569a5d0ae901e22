"""Matplotlib figures of a `GroupTable`: Pareto plots of quality against cost, and bars of time and memory.

Where the reports carry the training state (schema version 2), the Pareto figure gains a panel against it and the
bars a panel of it, stacked as weights, gradients and optimizer state.

Each figure is saved as PNG and SVG (Agg backend, no display needed). Every run keeps one colour per method
in all figures; frontier runs are drawn large with a black edge and joined by a dashed staircase. A group of more
than `selection.MAX_RUNS_PER_PANEL` runs draws that many (its frontier first, then the best), and labels and
titles are shortened (`selection`); the table keeps every run. `RenderedFigures` draws each figure once for all
the files and the HTML page that show it.

Example:
    paths = write_plots(build_tables(rows), "out/pareto.png")   # out/pareto.png, .svg, out/pareto-bars.png, .svg
"""

from __future__ import annotations

from pathlib import Path

from peft_efficiency.availability import require
from peft_efficiency.compare.labels import place_labels
from peft_efficiency.compare.load import finite
from peft_efficiency.compare.pareto import pareto_front
from peft_efficiency.compare.render import format_cell
from peft_efficiency.compare.selection import (AXIS_CHARS, BAR_RUNS, PARETO_RUNS_PER_PANEL, TITLE_CHARS, caption,
                                                 plotted_view, shorten, slug)
from peft_efficiency.compare.table import GroupTable

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
# the method registry's names (peft_efficiency.methods), so a method keeps its colour in every figure
KNOWN_METHODS = ["full", "lora", "ia3", "bitfit", "prompt", "loha", "prefix", "ptuning", "qlora", "base"]
# (value key, axis label, column kind for point labels)
PARETO_AXES = [
    ("trainable_params", "trainable parameters (log scale)", "count"),
    ("train_seconds", "train time (s)", "seconds"),
    ("energy_kwh", "training energy (kWh)", "kwh"),
]
LOG_RATIO = 30  # a cost axis whose positive values span more than this factor is drawn on a log scale
TRAINING_STATE_AXIS = ("training_state_bytes", "training state (bytes: weights + gradients + optimizer)", "bytes")
STATE_PARTS = [("weights_bytes", "weights", 1.0), ("gradients_bytes", "gradients", 0.65), ("optimizer_state_bytes", "optimizer state", 0.35)]


def log_scale(key: str, positive: list[float]) -> bool:
    """Whether a cost axis is drawn on a log scale: trainable parameters always, other costs (`positive`: their
    values above 0) when they span more than LOG_RATIO. The static figures and the HTML page's plot share it."""
    return key == "trainable_params" or (bool(positive) and max(positive) / min(positive) > LOG_RATIO)


def has_training_state(table: GroupTable) -> bool:
    return any(finite(v.get("training_state_bytes")) is not None for v in table.values)


def _pyplot():
    require("matplotlib", "peft-efficiency compare --plot/--html")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def method_colors(table: GroupTable) -> dict[str, str]:
    """A colour per method: registry methods keep theirs in every figure; others take the first colour unused here."""
    names = list(dict.fromkeys(row.method.lower() for row in table.rows))
    colors = {n: PALETTE[KNOWN_METHODS.index(n) % len(PALETTE)] for n in names if n in KNOWN_METHODS}
    for name in names:
        if name not in colors:
            free = [c for c in PALETTE if c not in colors.values()] or PALETTE
            colors[name] = free[0]
    return colors


def _pareto_axis(ax, table: GroupTable, key: str, label: str, kind: str, colors: dict[str, str],
                 crowded: bool = False) -> tuple[list, frozenset[int]]:
    """Draw one quality-vs-cost panel; return its point labels (placed once the layout is known) and, in a
    `crowded` panel (part of a large group), the indices of those that may be hidden: the runs off the frontier."""
    quality_key = table.ranked_by
    points = [(finite(v.get(key)), finite(v.get(quality_key))) for v in table.values]  # NaN/inf: not drawn
    measured = [i for i, (x, y) in enumerate(points) if x is not None and y is not None]
    positive = [points[i][0] for i in measured if points[i][0] > 0]
    log = log_scale(key, positive)
    usable = [i for i in measured if points[i][0] > 0 or not log]
    scale = 1.0
    if key == "energy_kwh" and usable and max(points[i][0] for i in usable) < 1:
        scale, label = 1000.0, "training energy (Wh)"
    ax.set_xlabel(label)
    ax.grid(True, alpha=0.3)
    for i, (x, y) in enumerate(points):  # runs with a quality but no place on this axis: a reference line
        if i in usable or y is None or not usable:
            continue
        color = colors[table.rows[i].method.lower()]
        why = "not measured" if x is None else f"{format_cell(x, kind)}, not shown on a log axis"
        ax.axhline(y, linestyle=":", color=color, linewidth=1.5, zorder=1)
        ax.text(0.99, y, f"{table.values[i]['method']}: {why}", transform=ax.get_yaxis_transform(), ha="right",
                va="bottom", fontsize=8, color=color)
    if not usable:
        reason = "no run has this figure" if key != "energy_kwh" else "energy was not measured"
        ax.text(0.5, 0.5, f"{reason}\n(n/a for all runs)", ha="center", va="center", transform=ax.transAxes, color="#666")
        ax.set_xticks([])
        return [], frozenset()
    front = set(pareto_front(points, True, table.greater_is_better)) & set(usable)
    if log:
        ax.set_xscale("log")
    annotations, optional = [], set()
    for i in usable:
        row, (x, y) = table.rows[i], points[i]
        on_front = i in front
        ax.scatter([x * scale], [y], s=110 if on_front else 45, color=colors[row.method.lower()],
                   edgecolors="black" if on_front else "none", linewidths=1.5, zorder=3)
        _error_bars(ax, table.values[i], key, quality_key, (x, y), scale, colors[row.method.lower()])
        text = f"{table.values[i]['method']}\n{format_cell(x, kind)}"
        if crowded and not on_front:
            optional.add(len(annotations))
        annotations.append(ax.annotate(text, (x * scale, y), textcoords="offset points", xytext=(7, 4),
                                       fontsize=8, zorder=4))
    ordered = sorted((points[i] for i in front), key=lambda p: p[0])
    if len(ordered) > 1:
        ax.step([p[0] * scale for p in ordered], [p[1] for p in ordered], where="post", linestyle="--",
                color="black", alpha=0.6, zorder=2, label="Pareto frontier")
        ax.legend(loc="best", fontsize=8, frameon=False)
    ax.margins(x=0.25, y=0.15)
    arrow = "↑ better" if table.greater_is_better else "↓ better"
    ax.set_title(f"← cheaper   {arrow}", loc="left", fontsize=8, color="#444")
    return annotations, frozenset(optional)


def _error_bars(ax, value: dict, key: str, quality_key: str, point: tuple[float, float], scale: float, color: str) -> None:
    """The 95% intervals of a row that merges repeated runs, as error bars on both axes (none for a single run)."""
    spans = []
    for axis_key, centre, factor in ((key, point[0], scale), (quality_key, point[1], 1.0)):
        low, high = finite(value.get(f"{axis_key}_ci_low")), finite(value.get(f"{axis_key}_ci_high"))
        spans.append(None if low is None or high is None else [[(centre - low) * factor], [(high - centre) * factor]])
    if spans[0] or spans[1]:
        ax.errorbar([point[0] * scale], [point[1]], xerr=spans[0], yerr=spans[1], fmt="none", ecolor=color,
                    elinewidth=1.2, capsize=3, zorder=2, label="_95% interval")


def figure_title(table: GroupTable, text: str, note: str) -> str:
    """The group's title (shortened), what the figure shows, and the note on the runs left out."""
    return "\n".join(filter(None, [f"{shorten(table.title, TITLE_CHARS)}: {text}", note]))


def pareto_figure(table: GroupTable):
    """Quality against trainable parameters, train time and energy (and the training state), side by side."""
    plt = _pyplot()
    axes_spec = PARETO_AXES + ([TRAINING_STATE_AXIS] if has_training_state(table) else [])
    fig, axes = plt.subplots(1, len(axes_spec), figsize=(5 * len(axes_spec), 4.8), sharey=True, layout="constrained")
    colors = method_colors(table)
    labels, capped = [], False
    for ax, (key, label, kind) in zip(axes, axes_spec):  # each panel: its own frontier, then the best runs
        view = plotted_view(table, [key], PARETO_RUNS_PER_PANEL)
        capped |= view.frontier_capped
        labels.append(_pareto_axis(ax, view.table, key, label, kind, colors, crowded=len(view.table.rows) < len(table.rows)))
    axes[0].set_ylabel(shorten(table.ranked_by or "quality", AXIS_CHARS))
    which = " per panel: the frontier drawn among them, then " if capped else " per panel: its Pareto frontier, then "
    bars = "; bars = 95% intervals of repeats" if any(r.repeats is not None for r in table.rows) else ""
    title = figure_title(table, f"quality vs cost (black-edged points = Pareto frontier, the best trade-offs{bars})",
                         caption(table, PARETO_RUNS_PER_PANEL, which))
    diverged = [shorten(str(v["method"]), AXIS_CHARS) for v in table.values if v.get("diverged")]
    if diverged:
        title += "\n" + shorten(f"not drawn, diverged ({table.ranked_by} not finite): {', '.join(diverged)}", TITLE_CHARS)
    fig.suptitle(title)
    fig.draw_without_rendering()  # runs the layout, so label boxes are measured where they will be drawn
    for ax, (axis_labels, optional) in zip(axes, labels):
        place_labels(ax, axis_labels, optional)
    fig.set_layout_engine("none")  # laid out once: saving does not lay it out again
    return fig


def bars_figure(table: GroupTable):
    """Horizontal bars of train time and peak memory per run (and the training state, stacked by part), in table
    order (best quality on top)."""
    plt = _pyplot()
    whole, table = table, plotted_view(table, [], BAR_RUNS).table
    state = has_training_state(table)
    fig, axes = plt.subplots(1, 3 if state else 2, figsize=(18 if state else 12, 0.5 * len(table.rows) + 1.8),
                             layout="constrained")
    colors = method_colors(whole)  # the same colour per method as in the Pareto figure
    names = [v["method"] for v in table.values]
    memory_kinds = {r.peak_memory_kind for r in table.rows if r.peak_memory_kind}
    memory_label = "peak memory (GiB" + (", process RSS)" if memory_kinds == {"process_rss"} else ")")
    panels = [("train_seconds", "train time (s)", "seconds", 1.0), ("peak_memory_bytes", memory_label, "bytes", 1024**3)]
    for ax, (key, label, kind, scale) in zip(axes, panels):
        values = [finite(v.get(key)) for v in table.values]
        heights = [0 if value is None else value / scale for value in values]
        ys = list(range(len(names)))
        ax.barh(ys, heights, color=[colors[r.method.lower()] for r in table.rows])
        ax.set_yticks(ys, names)
        ax.invert_yaxis()
        ax.set_xlabel(label)
        ax.grid(True, axis="x", alpha=0.3)
        top = max(heights) if any(heights) else 1.0
        ax.set_xlim(0, top * 1.25)
        for y, value, height in zip(ys, values, heights):
            ax.text(height + top * 0.01, y, format_cell(value, kind), va="center", fontsize=8,
                    color="#666" if value is None else "black")
    if state:
        _training_state_bars(axes[2], table, names, colors)
    parts = ", peak memory and training state" if state else " and peak memory"
    fig.suptitle(figure_title(whole, f"train time{parts} per method", caption(whole, BAR_RUNS, ": ")))
    return fig


def _training_state_bars(ax, table: GroupTable, names: list[str], colors: dict[str, str]) -> None:
    """Stacked bars (MiB): weights, gradients, optimizer state; n/a for a run without a training state."""
    scale = 1024**2
    ys = list(range(len(names)))
    totals = [finite(v.get("training_state_bytes")) for v in table.values]
    left = [0.0] * len(names)
    for key, label, alpha in STATE_PARTS:
        widths = [0.0 if t is None else (finite(v.get(key)) or 0.0) / scale for v, t in zip(table.values, totals)]
        ax.barh(ys, widths, left=left, color=[colors[r.method.lower()] for r in table.rows], alpha=alpha,
                edgecolor="black", linewidth=0.4, label=label)
        left = [a + b for a, b in zip(left, widths)]
    ax.set_yticks(ys, names)
    ax.invert_yaxis()
    ax.set_xlabel("training state (MiB): weights | gradients | optimizer state")
    ax.grid(True, axis="x", alpha=0.3)
    top = max(left) if any(left) else 1.0
    ax.set_xlim(0, top * 1.3)
    for y, total, width in zip(ys, totals, left):
        ax.text(width + top * 0.01, y, format_cell(total, "bytes"), va="center", fontsize=8,
                color="#666" if total is None else "black")
    ax.legend(loc="lower right", fontsize=7, frameon=False)


def plot_paths(tables: list[GroupTable], plot_path: str | Path) -> list[tuple[GroupTable, Path, Path]]:
    """(table, pareto PNG, bars PNG) per group: `<stem>.png` and `<stem>-bars.png`, with `-<task>-<model>`
    (and the values of the setting labels that tell groups of one task and model apart) added to the stem when
    there is more than one group."""
    base = Path(plot_path)
    result = []
    for table in tables:
        parts = [table.task, table.model_name, *table.shown_setting.values()]
        stem = base.stem if len(tables) == 1 else "-".join([base.stem, *map(slug, parts)])
        result.append((table, base.with_name(f"{stem}.png"), base.with_name(f"{stem}-bars.png")))
    return result


def write_plots(tables: list[GroupTable], plot_path: str | Path, rendered=None) -> list[Path]:
    """Write the Pareto and bar figures of every group (PNG + SVG); return the files written. `rendered` (a
    `RenderedFigures`) shares the drawings with other outputs."""
    from peft_efficiency.compare.rendered import RenderedFigures

    rendered = rendered or RenderedFigures()
    written: list[Path] = []
    for table, pareto_png, bars_png in plot_paths(tables, plot_path):
        for kind, png in (("pareto", pareto_png), ("bars", bars_png)):
            if kind == "pareto" and table.ranked_by is None:
                continue
            png.parent.mkdir(parents=True, exist_ok=True)
            for fmt, data in rendered.get(table, kind, ("png", "svg")).items():
                target = png.with_suffix(f".{fmt}")
                target.write_bytes(data)
                written.append(target)
    return written
