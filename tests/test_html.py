"""The HTML report: self-contained (no external requests), and interactive in a real headless Chromium that runs
the page's script, driven through the DevTools protocol (`browser_helpers.py`): sort, filter, hover, switch the
cost axis, download the CSV, with no console error. Expected values are worked out here from the reports the
tests write (compare_helpers' hand-built figures), not from the project's formatter.

Chromium is Debian's `chromium` (installed by `scripts/install-chromium.sh`); the browser tests are skipped,
with that reason, only when it is absent.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
import shutil
import statistics
import time
from pathlib import Path

import pytest
from browser_helpers import Browser
from compare_helpers import BIBLEQA_RUNS, GIB, IMDB_RUNS, make_report, write_run, write_runs

from peft_efficiency.compare.cli import main as compare_main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium is not installed (run scripts/install-chromium.sh as root)")
READY = "document.documentElement.dataset.ready === '1'"
T_95_DF2 = 4.303  # two-sided 95% Student t point for 2 degrees of freedom, from the published table


def order_of(page, group: str = "#group0") -> list[str]:
    """The labels of the table rows shown, top to bottom."""
    return page.evaluate(f"""Array.from(document.querySelectorAll('{group} tbody tr'))
        .filter(tr => !tr.hidden && tr.offsetParent !== null).map(tr => tr.dataset.method)""")


def drawn(page, group: str = "#group0") -> dict[str, dict]:
    """label -> {cx, cy, front} of every point drawn in the group's plot."""
    return page.evaluate(f"""Object.fromEntries(Array.from(document.querySelectorAll('{group} svg circle.point')).map(c =>
        [document.querySelector('{group} tr[data-index="' + c.dataset.index + '"]').dataset.method,
         {{cx: +c.getAttribute('cx'), cy: +c.getAttribute('cy'), front: c.classList.contains('front')}}]))""")


def axis_map(page, axis: str, group: str = "#group0"):
    """Data value of an SVG coordinate along `axis` ("x" or "y"), calibrated from two drawn ticks (value, position);
    log when the axis title says so."""
    ticks = page.evaluate(f"""Array.from(document.querySelectorAll('{group} g.tick.{axis}')).map(t =>
        [+t.dataset.value, +t.querySelector('line').getAttribute('{axis}1')])""")
    (v0, p0), (v1, p1) = ticks[0], ticks[-1]
    log = "log scale" in page.evaluate(f"document.querySelector('{group} text.axis-title.{axis}').textContent")
    if log:
        return lambda p: 10 ** (math.log10(v0) + (p - p0) / (p1 - p0) * (math.log10(v1) - math.log10(v0)))
    return lambda p: v0 + (p - p0) / (p1 - p0) * (v1 - v0)


def front_of(points: dict[str, tuple[float, float]]) -> set[str]:
    """Brute force: the labels no other point beats (cost no higher, quality no lower, one strictly)."""
    return {name for name, (c, q) in points.items()
            if not any(oc <= c and oq >= q and (oc, oq) != (c, q) for oc, oq in points.values())}


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def report_html(runs_root: Path) -> Path:
    dirs = write_runs(runs_root, IMDB_RUNS) + write_runs(runs_root, BIBLEQA_RUNS)
    broken = write_run(runs_root, "broken", "{\"schema_version\": 1, \"run\"")
    page = runs_root / "report.html"
    assert compare_main([*map(str, dirs), str(broken), "--html", str(page), "--quiet"]) == 1
    return page


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (run scripts/install-chromium.sh as root)")
    with Browser(CHROMIUM, tmp_path_factory.mktemp("profile")) as running:
        yield running


@pytest.fixture
def page(browser, report_html: Path):
    tab = browser.open(report_html.as_uri())
    tab.wait_for(READY)
    yield tab
    assert tab.errors == []  # no uncaught exception, console error or error log entry in any test
    tab.close()


def test_page_is_self_contained(report_html: Path) -> None:
    text = report_html.read_text(encoding="utf-8")
    sources = re.findall(r'\b(?:src|href)="([^"]*)"', text)
    # per group: the bar chart, and the static Pareto figure inside <noscript>
    assert len(sources) == 4 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert text.count("<noscript><img ") == 2
    assert "http://" not in text and "https://" not in text and "<link" not in text and "<script src" not in text
    assert "default-src 'none'" in text  # the CSP forbids any request but data: images
    assert "broken/efficiency_report.json: not valid JSON" in text  # the skipped input is named on the page
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text).group(1))
    lora = next(r for r in data["groups"][0]["rows"] if r["label"] == "lora")
    assert lora["folder"] == str(report_html.parent / "lora")  # the data is embedded once, raw


@needs_chromium
def test_without_script_the_tables_and_static_figures_show(browser, report_html: Path) -> None:
    tab = browser.open("about:blank")
    tab.send("Emulation.setScriptExecutionDisabled", {"value": True})
    tab.navigate(report_html.as_uri())
    assert tab.evaluate("document.documentElement.dataset.ready") is None  # the script did not run
    assert order_of(tab) == ["full", "lora", "bitfit", "ia3", "prompt_tuning"]
    text = tab.evaluate("document.body.innerText")
    assert "need JavaScript" in text and tab.evaluate("document.querySelectorAll('img.plot').length") == 4
    tab.close()


@needs_chromium
def test_chromium_renders_table_plot_and_images(page) -> None:
    page.wait_for("document.documentElement.dataset.imagesLoaded")
    # with scripts on, the <noscript> figures are not loaded: the two bar charts, both decoded
    assert page.evaluate("document.documentElement.dataset.imagesLoaded") == "2/2"
    assert order_of(page) == ["full", "lora", "bitfit", "ia3", "prompt_tuning"]
    assert order_of(page, "#group1") == ["lora", "base"]
    bitfit_row = page.evaluate("document.querySelector('#group0 tr[data-method=bitfit]').innerHTML")
    assert '<td class="num missing" data-key="energy_kwh">n/a</td>' in bitfit_row
    assert '<td class="num" data-key="speedup_vs_full">1.60x</td>' in bitfit_row  # 400 s / 250 s
    # the default cost axis is trainable parameters; its frontier by brute force from the reports
    points = drawn(page)
    quality = {name: r["quality"]["eval"]["eval_accuracy"] for name, r in IMDB_RUNS.items()}
    expected = front_of({n: (r["params"]["trainable"], quality[n]) for n, r in IMDB_RUNS.items()})
    assert set(points) == set(IMDB_RUNS) and {n for n, p in points.items() if p["front"]} == expected == {
        "full", "lora", "ia3", "prompt_tuning"}
    x_of = axis_map(page, "x")
    assert x_of(points["lora"]["cx"]) == pytest.approx(147_456, rel=0.01)
    assert page.evaluate("document.querySelectorAll('#group0 path.frontier').length") == 1
    # bibleqa: base has 0 trainable parameters, not drawable on a log axis: named under the plot
    assert "base (0, log axis)" in page.evaluate("document.querySelector('#group1 p.plot-note').textContent")


@needs_chromium
def test_sort_by_value_both_ways_missing_last(page) -> None:
    by_time = sorted(IMDB_RUNS, key=lambda n: IMDB_RUNS[n]["time"]["train_seconds"])
    page.click("#group0 thead th:nth-child(3)")  # train time
    assert order_of(page) == by_time == ["lora", "prompt_tuning", "ia3", "bitfit", "full"]
    assert page.evaluate("document.querySelector('#group0 thead th:nth-child(3)').getAttribute('aria-sort')") == "ascending"
    page.click("#group0 thead th:nth-child(3)")
    assert order_of(page) == by_time[::-1]
    # trainable: "15.4k" < "147k" < "200k" < "20k" < "22.7M" as text; by value the order differs
    column = page.evaluate("""Array.from(document.querySelectorAll('#group0 thead th'))
        .findIndex(th => th.textContent === 'trainable') + 1""")
    page.click(f"#group0 thead th:nth-child({column})")
    assert order_of(page) == sorted(IMDB_RUNS, key=lambda n: IMDB_RUNS[n]["params"]["trainable"])
    # energy: bitfit has none; last when ascending and when descending
    energy = {n: r["energy"]["energy_kwh"] for n, r in IMDB_RUNS.items() if r["energy"]["energy_kwh"] is not None}
    column = page.evaluate("""Array.from(document.querySelectorAll('#group0 thead th'))
        .findIndex(th => th.textContent === 'energy') + 1""")
    page.click(f"#group0 thead th:nth-child({column})")
    assert order_of(page) == sorted(energy, key=energy.get) + ["bitfit"]
    page.click(f"#group0 thead th:nth-child({column})")
    assert order_of(page) == sorted(energy, key=energy.get, reverse=True) + ["bitfit"]


@needs_chromium
def test_filter_by_text_and_method_filters_table_and_plot(page) -> None:
    page.type_text("#group0 input.filter", "T")  # case-insensitive: labels holding a "t"
    with_t = [n for n in IMDB_RUNS if "t" in n]
    assert order_of(page) == with_t == ["bitfit", "prompt_tuning"]
    points = drawn(page)
    assert set(points) == set(with_t)
    # the frontier among the rows shown: bitfit is no longer beaten by lora
    assert all(p["front"] for p in points.values())
    assert page.evaluate("document.querySelector('#group0 .count').textContent") == "2 of 5 rows"
    page.evaluate("""(() => { const s = document.querySelector('#group0 select.method'); s.value = 'ia3';
        s.dispatchEvent(new Event('change')); })()""")
    assert order_of(page) == [] and drawn(page) == {}
    page.evaluate("""(() => { const f = document.querySelector('#group0 input.filter'); f.value = '';
        f.dispatchEvent(new Event('input')); })()""")
    assert order_of(page) == ["ia3"] and set(drawn(page)) == {"ia3"}
    assert order_of(page, "#group1") == ["lora", "base"]  # each group filters on its own


@needs_chromium
def test_hover_shows_label_figures_and_folder(page, runs_root: Path) -> None:
    tip = "document.querySelector('#group0 div.tooltip')"
    assert page.evaluate(f"{tip}.hidden") is True
    index = page.evaluate("document.querySelector('#group0 tr[data-method=lora]').dataset.index")
    page.hover(f'#group0 circle.point[data-index="{index}"]')
    assert page.evaluate(f"{tip}.hidden") is False
    lines = page.evaluate(f"{tip}.innerText").splitlines()
    # 0.88 accuracy; 160 s = 2 min 40 s; 147,456 parameters; 1 GiB; 0.004 kWh = 4 Wh
    assert lines == ["lora", "eval_accuracy: 0.8800", "train time: 2m 40s", "trainable: 147k",
                     "peak memory: 1.00 GiB", "energy: 4 Wh", f"folder: {runs_root / 'lora'}"]
    box = page.evaluate(f"(r => [r.left, r.right, r.top])({tip}.getBoundingClientRect())")
    point = page.evaluate(f"""(r => [r.left, r.right, r.bottom])(document.querySelector(
        '#group0 circle.point[data-index="{index}"]').getBoundingClientRect())""")
    assert 0 <= box[0] and box[1] <= 1400 and abs(box[2] - point[2]) < 20  # beside the point, on screen
    page.mouse("mouseMoved", 5, 5)
    assert page.evaluate(f"{tip}.hidden") is True


@needs_chromium
def test_cost_axis_choice_moves_points_and_frontier(page) -> None:
    options = page.evaluate("Array.from(document.querySelectorAll('#group0 select.cost option')).map(o => o.value)")
    assert options == ["trainable_params", "train_seconds", "energy_kwh", "peak_memory_bytes"]  # no training state
    before = drawn(page)
    page.evaluate("""(() => { const s = document.querySelector('#group0 select.cost'); s.value = 'train_seconds';
        s.dispatchEvent(new Event('change')); })()""")
    assert page.evaluate("document.querySelector('#group0 text.axis-title.x').textContent") == "train time (s)"
    after = drawn(page)
    x_of = axis_map(page, "x")
    for name, report in IMDB_RUNS.items():
        assert x_of(after[name]["cx"]) == pytest.approx(report["time"]["train_seconds"], rel=0.005)
        assert after[name]["cy"] == pytest.approx(before[name]["cy"])  # quality stays where it was
    assert after["bitfit"]["cx"] != pytest.approx(before["bitfit"]["cx"])
    quality = {n: r["quality"]["eval"]["eval_accuracy"] for n, r in IMDB_RUNS.items()}
    expected = front_of({n: (r["time"]["train_seconds"], quality[n]) for n, r in IMDB_RUNS.items()})
    assert {n for n, p in after.items() if p["front"]} == expected == {"lora", "full"}
    page.evaluate("""(() => { const s = document.querySelector('#group0 select.cost'); s.value = 'energy_kwh';
        s.dispatchEvent(new Event('change')); })()""")
    assert page.evaluate("document.querySelector('#group0 text.axis-title.x').textContent") == "training energy (Wh)"
    assert set(drawn(page)) == set(IMDB_RUNS) - {"bitfit"}  # no energy figure
    assert "bitfit (n/a)" in page.evaluate("document.querySelector('#group0 p.plot-note').textContent")
    x_of = axis_map(page, "x")
    assert x_of(drawn(page)["ia3"]["cx"]) == pytest.approx(0.005 * 1000, rel=0.005)


@needs_chromium
def test_download_csv_holds_the_rows_shown(page, browser, runs_root: Path, tmp_path: Path) -> None:
    browser.send("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path),
                                                 "eventsEnabled": True})
    page.click("#group0 thead th:nth-child(3)")  # train time, ascending
    page.type_text("#group0 input.filter", "i")
    shown = [n for n in sorted(IMDB_RUNS, key=lambda n: IMDB_RUNS[n]["time"]["train_seconds"]) if "i" in n]
    assert order_of(page) == shown == ["prompt_tuning", "ia3", "bitfit"]
    page.click("#group0 button.download")
    target = tmp_path / "comparison-imdb-all-minilm-l6-v2.csv"
    browser.wait(lambda: any(e["method"] == "Browser.downloadProgress" and e["params"]["state"] == "completed"
                             for e in browser.events) and target.exists(), "completed download")
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [r["method"] for r in rows] == shown
    for row in rows:
        report = IMDB_RUNS[row["method"]]
        assert float(row["eval_accuracy"]) == report["quality"]["eval"]["eval_accuracy"]
        assert float(row["train_seconds"]) == report["time"]["train_seconds"]
        assert int(row["trainable_params"]) == report["params"]["trainable"]
        energy = report["energy"]["energy_kwh"]
        assert row["energy_kwh"] == ("" if energy is None else str(energy))  # missing: an empty field
        assert int(row["peak_memory_bytes"]) == report["memory"]["peak_memory_bytes"]
        assert row["folder"] == str(runs_root / row["method"])
    assert float(rows[0]["speedup_vs_full"]) == pytest.approx(400 / 180)  # full 400 s, prompt_tuning 180 s


def _seeded(method: str, seed: int, value: float, seconds: float) -> dict:
    return make_report(method, value=value, trainable=22_713_602 if method == "full" else 147_456,
                       train_seconds=seconds, peak_memory_bytes=(2 if method == "full" else 1) * GIB,
                       energy_kwh=seconds / 40_000, labels={"seed": str(seed)})


@needs_chromium
def test_repeats_are_drawn_with_their_intervals(browser, tmp_path: Path) -> None:
    seeds = {1: (0.90, 400.0, 0.88, 160.0), 2: (0.92, 410.0, 0.87, 170.0), 3: (0.91, 390.0, 0.89, 150.0)}
    folders = []
    for seed, (fa, ft, la, lt) in seeds.items():
        folders.append(write_run(tmp_path / "full", f"seed-{seed}", _seeded("full", seed, fa, ft)))
        folders.append(write_run(tmp_path / "lora", f"seed-{seed}", _seeded("lora", seed, la, lt)))
    html = tmp_path / "repeats.html"
    assert compare_main([*map(str, folders), "--html", str(html), "--quiet"]) == 0
    tab = browser.open(html.as_uri())
    tab.wait_for(READY)
    tab.evaluate("""(() => { const s = document.querySelector('#group0 select.cost'); s.value = 'train_seconds';
        s.dispatchEvent(new Event('change')); })()""")
    x_of, y_of = axis_map(tab, "x"), axis_map(tab, "y")
    for method, quality_at, seconds_at in (("full", 0, 1), ("lora", 2, 3)):
        quality = [v[quality_at] for v in seeds.values()]
        seconds = [v[seconds_at] for v in seeds.values()]
        index = tab.evaluate(f"document.querySelector('#group0 tr[data-method={method}]').dataset.index")
        d = tab.evaluate(f"document.querySelector('#group0 path.err[data-index=\"{index}\"]').getAttribute('d')")
        # the horizontal bar "M x0,y H x1" and the vertical one "M x,y0 V y1", each between its caps
        (x0, _), x1 = re.search(r"M([\d.]+),([\d.]+)H([\d.]+)", d).group(1, 2), float(re.search(r"H([\d.]+)", d).group(1))
        (_, y0), y1 = re.search(r"M([\d.]+),([\d.]+)V", d).group(1, 2), float(re.search(r"V([\d.]+)", d).group(1))
        half_q = T_95_DF2 * statistics.stdev(quality) / math.sqrt(3)
        half_s = T_95_DF2 * statistics.stdev(seconds) / math.sqrt(3)
        assert sorted([x_of(float(x0)), x_of(x1)]) == pytest.approx(
            [statistics.mean(seconds) - half_s, statistics.mean(seconds) + half_s], rel=0.005)
        assert sorted([y_of(float(y0)), y_of(y1)]) == pytest.approx(
            [statistics.mean(quality) - half_q, statistics.mean(quality) + half_q], abs=0.001)
        point = drawn(tab)[method]
        assert x_of(point["cx"]) == pytest.approx(statistics.mean(seconds), rel=0.005)
        tab.hover(f'#group0 circle.point[data-index="{index}"]')
        tip = tab.evaluate("document.querySelector('#group0 div.tooltip').innerText")
        assert "n: 3" in tip and f"folder: {tmp_path / method}" in tip
    assert "Bars: 95% intervals of repeated runs" in tab.evaluate("document.querySelector('#group0 p.plot-note').textContent")
    assert tab.errors == []
    tab.close()


@needs_chromium
@pytest.mark.parametrize("width", [1366, 1440])
def test_long_labels_are_shortened_and_the_page_fits_a_laptop(browser, tmp_path: Path, width: int) -> None:
    runs = {"full": IMDB_RUNS["full"]}
    names = {}
    for tail, value in (("a", 0.88), ("b", 0.86)):
        names[tail] = "lora-" + "x" * 2000 + "-" + tail
        runs[f"lora-{tail}"] = make_report("lora", value=value, trainable=147_456 + len(tail), train_seconds=160.0,
                                           peak_memory_bytes=GIB, energy_kwh=0.004, run_name=names[tail])
    html = tmp_path / "long.html"
    assert compare_main([*map(str, write_runs(tmp_path, runs)), "--html", str(html), "--quiet"]) == 0
    tab = browser.open(html.as_uri(), width=width)
    tab.wait_for(READY)
    assert tab.evaluate("document.documentElement.scrollWidth") <= width  # nothing pushes the page wider
    scroller = tab.evaluate("(e => [e.scrollWidth, e.clientWidth])(document.querySelector('#group0 div.table-scroll'))")
    assert scroller[0] > scroller[1]  # the wide table scrolls inside its own box
    cells = tab.evaluate("""Array.from(document.querySelectorAll('#group0 td[data-key=method]'))
        .map(td => [td.title, td.textContent])""")
    for tail, name in names.items():
        title, text = next(c for c in cells if name in c[0])
        assert len(title) > 2000 and len(text) <= 60 and text.endswith(f"-{tail})")  # whole in the title
    labels = tab.evaluate("Array.from(document.querySelectorAll('#group0 text.point-label')).map(t => t.textContent)")
    assert labels and all(len(label) <= 32 for label in labels)
    index = tab.evaluate("Array.from(document.querySelectorAll('#group0 tr')).find(tr => tr.dataset.method && "
                         "tr.dataset.method.endsWith('-a)')).dataset.index")
    tab.hover(f'#group0 circle.point[data-index="{index}"]')
    title = tab.evaluate("document.querySelector('#group0 div.tooltip b').textContent")
    assert len(title) <= 32 and title.endswith("-a)")
    assert tab.evaluate("document.documentElement.scrollWidth") <= width  # the tooltip stays on the page too
    assert tab.errors == []
    tab.close()


@needs_chromium
def test_a_thousand_runs_stay_small_and_load_quickly(browser, tmp_path: Path) -> None:
    rng = random.Random(5)
    methods = ["full", "lora", "ia3", "bitfit", "prompt", "loha", "prefix", "ptuning", "qlora", "base"]
    for index in range(1000):
        method = methods[index % len(methods)]
        write_run(tmp_path / "runs", f"run{index:04d}", make_report(
            method, value=round(rng.uniform(0.5, 0.95), 4), trainable=rng.randint(1_000, 2_000_000),
            train_seconds=round(rng.uniform(50, 2000), 1), peak_memory_bytes=rng.randint(1 << 30, 3 << 30),
            energy_kwh=round(rng.uniform(0.001, 0.05), 5), co2_kg=0.001, run_name=f"{method}-{index}"))
    html = tmp_path / "big.html"
    assert compare_main([str(tmp_path / "runs"), "--html", str(html), "--quiet"]) == 0
    assert html.stat().st_size < 5 * 1024**2
    started = time.monotonic()
    tab = browser.open(html.as_uri())
    tab.wait_for(READY, timeout=20)
    seconds = time.monotonic() - started
    assert tab.evaluate("document.querySelectorAll('#group0 tbody tr').length") == 1000
    assert tab.evaluate("document.querySelectorAll('#group0 circle.point').length") == 1000
    started = time.monotonic()
    tab.click("#group0 thead th:nth-child(3)")
    tab.wait_for("document.querySelector('#group0 thead th:nth-child(3)').getAttribute('aria-sort')")
    assert seconds < 10 and time.monotonic() - started < 5, (seconds, time.monotonic() - started)
    assert tab.errors == []
    tab.close()
