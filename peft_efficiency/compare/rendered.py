"""Each group's figures drawn once, kept as PNG (and SVG) bytes for every output that shows them: `--plot` files,
`--out-dir` files and the HTML page's embedded images. Drawing is the slow part of a comparison.

Example:
    rendered = RenderedFigures()
    png = rendered.get(table, "pareto", ("png",))["png"]
"""

from __future__ import annotations

import io
from typing import Callable

from peft_efficiency.compare.table import GroupTable

DPI = 110
KINDS = ("pareto", "bars")


class RenderedFigures:
    """Figure bytes by (group, kind); a format asked for later than the first drawing draws the figure again."""

    def __init__(self) -> None:
        self._bytes: dict[tuple[int, str], dict[str, bytes]] = {}
        self._tables: list[GroupTable] = []  # kept alive, so their ids stay theirs

    def get(self, table: GroupTable, kind: str, formats: tuple[str, ...]) -> dict[str, bytes]:
        """{format: bytes} of the `kind` figure ("pareto" or "bars") of `table`, for every format in `formats`."""
        entry = self._bytes.setdefault((id(table), kind), {})
        if table not in self._tables:
            self._tables.append(table)
        missing = [f for f in formats if f not in entry]
        if missing:
            entry.update(draw(table, kind, tuple(dict.fromkeys([*entry, *missing]))))
        return {f: entry[f] for f in formats}


def draw(table: GroupTable, kind: str, formats: tuple[str, ...]) -> dict[str, bytes]:
    """Draw the figure once and save it in each format."""
    from peft_efficiency.compare.plots import _pyplot, bars_figure, pareto_figure

    figures: dict[str, Callable[[GroupTable], object]] = {"pareto": pareto_figure, "bars": bars_figure}
    plt = _pyplot()
    fig = figures[kind](table)
    result = {}
    try:
        for fmt in formats:
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, dpi=DPI)
            result[fmt] = buffer.getvalue()
            fig.set_layout_engine("none")  # laid out by the first save: the next format keeps that layout
    finally:
        plt.close(fig)
    return result
