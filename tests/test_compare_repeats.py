"""Repeated runs in the comparison: runs that differ only in seed merged into n, mean, standard deviation and a 95%
Student-t interval; relative columns paired per seed or bootstrapped; the no-difference mark; bad input.

Expected values are worked out by hand here (means and differences), with the standard library's `statistics`
for standard deviations and the published two-sided 95% t points (t(2) = 4.303, t(1) = 12.706, t(3) = 3.182)."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path

import pytest
from compare_helpers import GIB, MINILM_TOTAL, make_report, write_run

from peft_efficiency.compare.intervals import bootstrap_interval, summarize, t_quantile
from peft_efficiency.compare.load import load_runs
from peft_efficiency.compare.render import render
from peft_efficiency.compare.table import build_tables

# seed -> (full accuracy, full train s, lora accuracy, lora train s); 3,200 samples each, so samples/s = 3200 / s
RECIPE = {"recipe": "imdb_roberta"}  # a setting label: every run of these tests carries it
SEEDS = {"1": (0.90, 400.0, 0.88, 160.0), "2": (0.92, 410.0, 0.87, 170.0), "3": (0.91, 390.0, 0.89, 150.0)}


def _seeded(method: str, seed: str, value: float, seconds: float, **extra) -> dict:
    memory = 2 * GIB if method == "full" else GIB
    return make_report(method, value=value, trainable=22_713_602 if method == "full" else 147_456,
                       train_seconds=seconds, peak_memory_bytes=memory + int(seed) * 1024**2, energy_kwh=seconds / 40_000,
                       co2_kg=seconds / 100_000, labels={"recipe": "imdb_roberta", "seed": seed, **extra.pop("labels", {})},
                       **extra)


def _table(folders: list[Path]):
    rows, problems = load_runs(folders)
    assert not [p for p in problems if p.skipped]
    (table,) = build_tables(rows)
    return table, {v["method"]: v for v in table.values}


def _three_seeds(tmp_path: Path) -> list[Path]:
    folders = []
    for seed, (fa, ft, la, lt) in SEEDS.items():
        folders.append(write_run(tmp_path / "full", f"seed-{seed}", _seeded("full", seed, fa, ft)))
        folders.append(write_run(tmp_path / "lora", f"seed-{seed}", _seeded("lora", seed, la, lt)))
    return folders


def test_t_quantiles_match_the_published_table() -> None:
    assert [t_quantile(df) for df in (1, 2, 3, 10, 30)] == [12.7062, 4.3027, 3.1824, 2.2281, 2.0423]
    assert t_quantile(1000) == pytest.approx(1.962, abs=2e-3) and t_quantile(45) == pytest.approx(2.014, abs=2e-3)
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in range(1, 301):
        assert t_quantile(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), abs=2e-3), df


def test_mean_sd_and_t_interval_by_hand() -> None:
    summary = summarize([0.86, 0.88, 0.90])
    half = 4.303 * 0.02 / math.sqrt(3)  # t(2) from the table, sd 0.02 by hand
    assert summary.n == 3 and summary.mean == pytest.approx(0.88) and summary.sd == pytest.approx(0.02)
    assert summary.low == pytest.approx(0.88 - half, abs=1e-4) and summary.high == pytest.approx(0.88 + half, abs=1e-4)
    single = summarize([0.5])
    assert (single.n, single.mean, single.sd, single.low, single.high) == (1, 0.5, None, None, None)


def test_repeats_merge_into_mean_sd_interval_and_paired_relative_columns(tmp_path: Path) -> None:
    table, values = _table(_three_seeds(tmp_path))
    assert [v["method"] for v in table.values] == ["full", "lora"] and len(table.rows) == 2
    lora, full = values["lora"], values["full"]
    assert (lora["n"], lora["n_runs"], full["n"]) == (3, 3, 3)
    accuracies = [0.88, 0.87, 0.89]
    sd = statistics.stdev(accuracies)
    assert lora["eval_accuracy"] == pytest.approx(0.88) and lora["eval_accuracy_sd"] == pytest.approx(sd)
    assert lora["eval_accuracy_ci_low"] == pytest.approx(0.88 - 4.303 * sd / math.sqrt(3), abs=1e-4)
    assert lora["train_seconds"] == pytest.approx(160.0) and lora["train_seconds_sd"] == pytest.approx(10.0)
    assert lora["train_seconds_ci_high"] == pytest.approx(160 + 4.303 * 10 / math.sqrt(3), abs=1e-2)
    assert lora["peak_memory_bytes"] == pytest.approx(GIB + 2 * 1024**2)  # seeds add 1, 2, 3 MiB
    assert lora["trainable_params"] == 147_456 and isinstance(lora["trainable_params"], int)

    # paired per seed: speed-up of each seed = full s / lora s (same samples); a ratio, so its geometric mean and
    # the exponentiated t interval of the log ratios
    ratios = [400 / 160, 410 / 170, 390 / 150]
    logs = [math.log(r) for r in ratios]
    log_half = 4.303 * statistics.stdev(logs) / math.sqrt(3)
    geometric = (ratios[0] * ratios[1] * ratios[2]) ** (1 / 3)
    assert lora["speedup_vs_full"] == pytest.approx(geometric)
    assert lora["speedup_vs_full_ci_low"] == pytest.approx(geometric * math.exp(-log_half), rel=1e-3)
    assert lora["speedup_vs_full_no_difference"] is False
    deltas = [0.88 - 0.90, 0.87 - 0.92, 0.89 - 0.91]  # -0.02, -0.05, -0.02
    assert lora["quality_delta_vs_full"] == pytest.approx(-0.03)
    delta_half = 4.303 * statistics.stdev(deltas) / math.sqrt(3)
    assert lora["quality_delta_vs_full_ci_high"] == pytest.approx(-0.03 + delta_half, abs=1e-4)
    assert lora["quality_delta_vs_full_no_difference"] is True  # -0.03 + 0.0745 > 0: within the noise
    assert "speedup_vs_full_ci_low" not in full  # the baseline gets no interval against itself

    text = render([table], "table")
    assert "(6 runs in 2 rows;" in text
    lora_line = next(line for line in text.splitlines() if line.startswith("lora"))
    assert "0.8800 ±0.0100 [0.8552, 0.9048]" in lora_line and " ≈" in lora_line
    assert ("paired per seed (Student t intervals of each seed's difference; the speed-up: geometric mean of each "
            "seed's ratio, t interval of their logarithms) for lora") in text
    assert "Student t with n-1 degrees of freedom" in text and "bootstrap" not in text
    assert "| 0.8800 ±0.0100 [0.8552, 0.9048] |" in render([table], "markdown")
    records = {r["method"]: r for r in csv.DictReader(io.StringIO(render([table], "csv")))}
    assert float(records["lora"]["eval_accuracy_ci_high"]) == pytest.approx(0.9048, abs=1e-4)
    assert records["lora"]["n"] == "3" and records["lora"]["quality_delta_vs_full_no_difference"] == "True"
    runs = {r["method"]: r for r in json.loads(render([table], "json"))["groups"][0]["runs"]}
    assert runs["lora"]["seeds"] == ["1", "2", "3"] and len(runs["lora"]["reports"]) == 3
    assert runs["lora"]["speedup_vs_full_ci_high"] == pytest.approx(geometric * math.exp(log_half), rel=1e-3)


def test_bootstrap_against_a_single_baseline_by_hand(tmp_path: Path) -> None:
    """lora seeds 1 and 2 against one full run: a resampled lora mean is 3200/160, the midpoint or 3200/170 (each
    extreme with chance 1/4 > 2.5%), so the percentile interval of the speed-up is exactly [each extreme / full]."""
    folders = [write_run(tmp_path, "full", make_report("full", value=0.9, trainable=22_713_602, train_seconds=400.0,
                                                       peak_memory_bytes=2 * GIB, labels=RECIPE))]
    for seed, seconds, value in (("1", 160.0, 0.88), ("2", 170.0, 0.86)):
        folders.append(write_run(tmp_path / "lora", seed, _seeded("lora", seed, value, seconds)))
    table, values = _table(folders)
    lora = values["lora"]
    full_rate = 3200 / 400
    assert lora["speedup_vs_full_ci_low"] == pytest.approx((3200 / 170) / full_rate)
    assert lora["speedup_vs_full_ci_high"] == pytest.approx((3200 / 160) / full_rate)
    assert lora["quality_delta_vs_full_ci_low"] == pytest.approx(-0.04)
    assert lora["quality_delta_vs_full_ci_high"] == pytest.approx(-0.02)
    assert lora["eval_accuracy_ci_low"] == pytest.approx(0.87 - 12.706 * statistics.stdev([0.88, 0.86]) / math.sqrt(2),
                                                         abs=1e-3)
    assert any("bootstrap (2,000 resamples" in note and note.endswith("percentiles) for lora") for note in table.notes)
    assert bootstrap_interval([1.0, 2.0], [4.0], lambda a, b: a / b) == (0.25, 0.5)


def test_a_single_run_stays_as_today(tmp_path: Path) -> None:
    folders = [write_run(tmp_path, "full", make_report("full", value=0.9, trainable=100, train_seconds=400.0, labels=RECIPE)),
               write_run(tmp_path, "lora", _seeded("lora", "1", 0.88, 160.0))]  # a seed label, but only one run
    table, values = _table(folders)
    assert "n" not in [c.key for c in table.columns]
    assert values["lora"]["n"] == 1 and "eval_accuracy_ci_low" not in values["lora"]
    assert "speedup_vs_full_ci_low" not in values["lora"] and "±" not in render([table], "table")
    assert not any("Student t" in note for note in table.notes)


def test_failed_and_diverged_repeats_are_left_out_and_counted(tmp_path: Path) -> None:
    folders = _three_seeds(tmp_path)
    folders.append(write_run(tmp_path / "lora", "seed-4", _seeded("lora", "4", 0.5, 100.0, status="failed")))
    folders.append(write_run(tmp_path / "lora", "seed-5", _seeded("lora", "5", math.nan, 100.0)))
    table, values = _table(folders)
    lora = values["lora"]
    assert (lora["n"], lora["n_runs"]) == (3, 5) and lora["eval_accuracy"] == pytest.approx(0.88)
    assert lora["train_seconds"] == pytest.approx(160.0)  # neither 100 s run is in the mean
    lora_line = next(line for line in render([table], "table").splitlines() if line.startswith("lora"))
    assert lora_line.split()[1:4] == ["3", "of", "5"]
    note = next(n for n in table.notes if "3 of 5 runs in the mean" in n)
    assert "seed-4" in note and "(status failed)" in note and "seed-5" in note and "(diverged)" in note
    runs = {r["method"]: r for r in json.loads(render([table], "json"))["groups"][0]["runs"]}
    assert sorted(item["reason"] for item in runs["lora"]["left_out"]) == ["diverged", "status failed"]


def test_runs_differing_in_more_than_the_seed_are_never_merged(tmp_path: Path) -> None:
    folders = []
    for lr in ("1e-4", "5e-4"):
        for seed, value in (("1", 0.80), ("2", 0.82)):
            folders.append(write_run(tmp_path / lr, seed, _seeded("lora", seed, value + (0.05 if lr == "5e-4" else 0),
                                                                   160.0, labels={"lr": lr})))
    folders.append(write_run(tmp_path / "split", "1", _seeded("lora", "1", 0.7, 160.0, labels={"split": "30_70"})))
    rows, _ = load_runs(folders)
    tables = build_tables(rows)
    assert len(tables) == 2  # another split is another group, as before
    same_split = next(t for t in tables if "split" not in t.setting)
    assert sorted(v["n"] for v in same_split.values) == [2, 2]
    means = sorted(v["eval_accuracy"] for v in same_split.values)
    assert means == [pytest.approx(0.81), pytest.approx(0.86)]
    assert len({v["method"] for v in same_split.values}) == 2  # labelled apart


def test_same_seed_twice_is_a_flagged_duplicate_not_averaged(tmp_path: Path) -> None:
    folders = _three_seeds(tmp_path)
    folders.append(write_run(tmp_path / "lora2", "seed-1", _seeded("lora", "1", 0.50, 160.0)))  # sorts after lora/
    table, values = _table(folders)
    lora = values["lora"]
    assert (lora["n"], lora["n_runs"]) == (3, 4) and lora["eval_accuracy"] == pytest.approx(0.88)
    note = next(n for n in table.notes if "seed 1 appears twice" in n)
    kept = tmp_path / "lora" / "seed-1" / "efficiency_report.json"
    assert "a duplicate, not a repeat" in note and f"only {kept} is in the mean" in note
    runs = {r["method"]: r for r in json.loads(render([table], "json"))["groups"][0]["runs"]}
    assert runs["lora"]["duplicates"] == [str(tmp_path / "lora2" / "seed-1" / "efficiency_report.json")]


def test_repeats_that_trained_different_amounts_are_not_merged(tmp_path: Path) -> None:
    folders = [write_run(tmp_path, "a", _seeded("lora", "1", 0.8, 160.0)),
               write_run(tmp_path, "b", _seeded("lora", "2", 0.8, 80.0, samples=1600))]
    table, values = _table(folders)
    assert len(table.rows) == 2 and all(v["n"] == 1 for v in table.values)
    assert any("differ in samples trained (1600, 3200): not merged" in n for n in table.notes)


def test_pareto_frontier_on_the_means(tmp_path: Path) -> None:
    """The frontier uses each row's mean: bitfit's seed 1 (0.895, 200k parameters) alone would beat every lora run
    (at most 0.89, 147k), but bitfit's mean (0.84) is dominated by lora's (0.88); full, lora and ia3 (20k, 0.85)
    stay on the frontier."""
    folders = _three_seeds(tmp_path)
    folders.append(write_run(tmp_path, "ia3", make_report("ia3", value=0.85, trainable=20_000, train_seconds=200.0,
                                                          labels=RECIPE)))
    for seed, value in (("1", 0.895), ("2", 0.80), ("3", 0.825)):
        report = _seeded("bitfit", seed, value, 200.0)
        report["params"]["trainable"] = 200_000
        folders.append(write_run(tmp_path / "bitfit", seed, report))
    _, values = _table(folders)
    assert values["bitfit"]["eval_accuracy"] == pytest.approx(0.84)
    assert {m: v["pareto_params"] for m, v in values.items()} == {"full": True, "lora": True, "ia3": True, "bitfit": False}


def test_a_figure_missing_from_some_repeats_is_the_mean_of_those_that_have_it(tmp_path: Path) -> None:
    folders = _three_seeds(tmp_path)
    report = _seeded("lora", "4", 0.88, 160.0)
    report["energy"].update(status="unavailable", reason="no RAPL counter", energy_kwh=None, co2_kg=None)
    folders.append(write_run(tmp_path / "lora", "seed-4", report))
    table, values = _table(folders)
    energies = [160 / 40_000, 170 / 40_000, 150 / 40_000]  # seeds 1-3; seed 4 measured none
    assert values["lora"]["n"] == 4 and values["lora"]["energy_kwh"] == pytest.approx(statistics.fmean(energies))
    assert values["lora"]["energy_kwh_sd"] == pytest.approx(statistics.stdev(energies))
    assert "energy_kwh of lora is the mean of the 3 of its 4 runs that measured it" in table.notes


def test_pareto_plot_draws_the_intervals_as_error_bars(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    from matplotlib.container import ErrorbarContainer

    from peft_efficiency.compare.plots import pareto_figure

    folders = _three_seeds(tmp_path)
    folders.append(write_run(tmp_path, "ia3", make_report("ia3", value=0.85, trainable=20_000, train_seconds=200.0,
                                                          labels=RECIPE)))
    table, values = _table(folders)
    fig = pareto_figure(table)
    try:
        time_axis = fig.axes[1]  # quality vs train time
        bars = [c for c in time_axis.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == 2  # full and lora; ia3 is a single run
        spans = set()
        for container in bars:
            for collection in container.lines[2]:
                for (x0, y0), (x1, y1) in collection.get_segments():
                    spans.add((round(x0, 3), round(y0, 4), round(x1, 3), round(y1, 4)))
        lora = values["lora"]
        half = 4.303 * 0.01 / math.sqrt(3)  # accuracy 0.87-0.89 and train s 150-170: sd 0.01 and 10
        assert (160.0, round(0.88 - half, 4), 160.0, round(0.88 + half, 4)) in spans
        low, high = lora["train_seconds_ci_low"], lora["train_seconds_ci_high"]
        assert (round(low, 3), 0.88, round(high, 3), 0.88) in spans and high - low == pytest.approx(2 * 4.303 * 10 / math.sqrt(3), abs=0.01)
        assert "bars = 95% intervals of repeats" in fig.get_suptitle() or any(
            "bars = 95% intervals of repeats" in t.get_text() for t in fig.texts)
    finally:
        plt.close(fig)


def test_intervals_of_widely_spread_repeats_stay_possible(tmp_path: Path) -> None:
    """Two seeds per method whose times differ 6x (a busy shared machine): the t interval of the mean train time
    would reach below 0 s and the paired speed-up below 0x; the time interval is cut at 0 with a note, and the
    speed-up interval, on the log scale, stays above 0."""
    runs = {"full-1": ("full", "1", 600.0), "full-2": ("full", "2", 100.0),
            "lora-1": ("lora", "1", 120.0), "lora-2": ("lora", "2", 90.0)}
    dirs = [write_run(tmp_path, name, make_report(method, value=0.8, trainable=MINILM_TOTAL if method == "full" else 1000,
                                                  train_seconds=seconds, labels={"seed": seed}))
            for name, (method, seed, seconds) in runs.items()]
    rows, _ = load_runs(dirs)
    table = build_tables(rows)[0]
    values = {v["method"]: v for v in table.values}
    full, lora = values["full"], values["lora"]
    assert 350.0 - 12.7062 * statistics.stdev([600.0, 100.0]) / math.sqrt(2) < 0  # what t alone would give
    assert full["train_seconds_ci_low"] == 0.0
    assert full["train_seconds_ci_high"] == pytest.approx(350.0 + 12.7062 * statistics.stdev([600.0, 100.0]) / math.sqrt(2))
    logs = [math.log(600 / 120), math.log(100 / 90)]  # samples/s ratios = time ratios (same samples)
    half = 12.7062 * statistics.stdev(logs) / math.sqrt(2)
    assert lora["speedup_vs_full"] == pytest.approx(math.sqrt(600 / 120 * 100 / 90))
    assert lora["speedup_vs_full_ci_low"] == pytest.approx(math.exp(statistics.fmean(logs) - half), rel=1e-3)
    assert 0 < lora["speedup_vs_full_ci_low"] < 1 < lora["speedup_vs_full_ci_high"]
    assert lora["speedup_vs_full_no_difference"] is True
    assert any(note.startswith("an interval of a figure that cannot be negative") for note in table.notes)
