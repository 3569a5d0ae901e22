"""Issue 24 item 9: a large comparison stays legible. A Pareto panel draws at most PARETO_RUNS_PER_PANEL runs, and
every run on its frontier (worked out here by brute force from the reports); the bars at most BAR_RUNS; labels
and titles are shortened in figures, file names and headings, and kept whole in the table and the JSON."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from compare_helpers import make_report, write_run  # noqa: E402
from peft_efficiency.compare.html import render_html  # noqa: E402
from peft_efficiency.compare.load import load_runs  # noqa: E402
from peft_efficiency.compare.plots import bars_figure, pareto_figure, write_plots  # noqa: E402
from peft_efficiency.compare.render import render  # noqa: E402
from peft_efficiency.compare.selection import BAR_RUNS, PARETO_RUNS_PER_PANEL, shorten, slug  # noqa: E402
from peft_efficiency.compare.table import build_tables  # noqa: E402

RUNS = 150
LONG = "n" * 10_000


def dominated(point: tuple[float, float], others: list[tuple[float, float]]) -> bool:
    """Another run has at most the cost and at least the accuracy, and is better in one."""
    return any(c <= point[0] and q >= point[1] and (c, q) != point for c, q in others)


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    root = tmp_path_factory.mktemp("crowd")
    rng = random.Random(3)
    reports = []
    for index in range(RUNS):
        method = ["lora", "ia3", "bitfit", "prompt", "loha"][index % 5]
        report = make_report(method, value=round(rng.uniform(0.5, 0.95), 4), trainable=rng.randint(1_000, 900_000),
                             train_seconds=round(rng.uniform(50, 900), 1), peak_memory_bytes=rng.randint(1 << 30, 3 << 30),
                             energy_kwh=round(rng.uniform(0.001, 0.02), 5), co2_kg=0.001,
                             run_name=LONG + str(index) if index == 7 else f"{method}-{index}")
        reports.append(report)
        write_run(root, f"run{index}", report)
    rows, _ = load_runs([root])
    return reports, build_tables(rows)


def drawn_points(ax) -> list[tuple[float, float]]:
    return [tuple(map(float, xy)) for collection in ax.collections for xy in collection.get_offsets()]


def test_each_pareto_panel_draws_its_whole_frontier_and_at_most_the_limit(crowd) -> None:
    import matplotlib.pyplot as plt

    reports, tables = crowd
    (table,) = tables
    fig = pareto_figure(table)
    for ax, (section, key, scale) in zip(fig.axes, [("params", "trainable", 1), ("time", "train_seconds", 1),
                                                    ("energy", "energy_kwh", 1000)]):
        points = [(r[section][key] * scale, r["quality"]["eval"]["eval_accuracy"]) for r in reports]
        front = {p for p in points if not dominated(p, points)}
        drawn = drawn_points(ax)
        assert len(drawn) == PARETO_RUNS_PER_PANEL
        assert all(any(abs(x - fx) <= 1e-9 * fx and abs(y - fy) <= 1e-12 for x, y in drawn) for fx, fy in front)
        assert 1 <= len(front) < PARETO_RUNS_PER_PANEL
    title = fig._suptitle.get_text()
    assert f"showing at most {PARETO_RUNS_PER_PANEL} of {RUNS} runs per panel" in title
    plt.close(fig)


def test_bars_show_the_best_runs_and_the_figure_stays_small(crowd, tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    reports, tables = crowd
    fig = bars_figure(tables[0])
    names = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    # table order: best accuracy first, ties to fewer trainable parameters
    best = sorted(reports, key=lambda r: (-r["quality"]["eval"]["eval_accuracy"], r["params"]["trainable"]))[:BAR_RUNS]
    assert [n.split(" (")[0] for n in names] == [r["run"]["method"] for r in best]
    assert max(len(n) for n in names) <= 32
    plt.close(fig)
    for png in [p for p in write_plots(tables, tmp_path / "crowd.png") if p.suffix == ".png"]:
        width, height = struct.unpack(">II", png.read_bytes()[16:24])
        assert width <= 2200 and height <= 2000, (png.name, width, height)


def test_labels_short_in_figures_and_headings_whole_in_table_and_json(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    write_run(tmp_path, "a", make_report("lora", value=0.8, trainable=10, train_seconds=5.0, run_name="a" + LONG,
                                         labels={"split": "s" * 10_000}))
    write_run(tmp_path, "b", make_report("lora", value=0.7, trainable=20, train_seconds=6.0, run_name="b" + LONG,
                                         labels={"split": "s" * 10_000}))
    write_run(tmp_path, "c", make_report("full", value=0.9, trainable=99, train_seconds=9.0, labels={"split": "90_10"}))
    rows, _ = load_runs([tmp_path])
    tables = build_tables(rows)
    crowded = next(t for t in tables if len(t.rows) == 2)
    fig = pareto_figure(crowded)
    assert len(fig._suptitle.get_text().splitlines()[0]) < 200
    assert all(len(line) <= 40 for t in fig.axes[0].texts for line in t.get_text().splitlines())
    plt.close(fig)
    terminal = render(tables, "table")
    assert max(len(line) for line in terminal.splitlines() if line.startswith("==")) < 250
    assert "a" + LONG in terminal  # the table's method column keeps the whole label
    data = json.loads(render(tables, "json"))
    group = next(g for g in data["groups"] if len(g["runs"]) == 2)
    assert group["setting"]["split"] == "s" * 10_000 and "s" * 10_000 in group["title"]
    assert sorted(r["method"] for r in group["runs"]) == [f"lora (a{LONG})", f"lora (b{LONG})"]
    written = write_plots(tables, tmp_path / "out" / "p.png")  # no 'File name too long'
    assert len(written) == 8 and max(len(p.name) for p in written) < 120
    assert len({p.name for p in written}) == 8


def test_shorten_and_slug() -> None:
    assert shorten("lora", 32) == "lora"
    cut = shorten("lora (" + "x" * 100 + "-seed12)", 32)
    assert len(cut) == 32 and cut.startswith("lora (xx") and cut.endswith("-seed12)") and "…" in cut
    first, second = slug("a" * 300 + "1"), slug("a" * 300 + "2")
    assert len(first) <= 40 and len(second) <= 40 and first != second
    assert slug("SQuAD v1.1") == "squad-v1-1"


def test_html_of_a_large_comparison_stays_small(crowd) -> None:
    _, tables = crowd
    page = render_html(tables, [])
    assert page.count("<img ") == 2 and page.count("<tr") == RUNS + 1
    assert len(page) < 1_500_000
