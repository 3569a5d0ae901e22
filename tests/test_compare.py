"""The comparison table: grouping, ranking, relative columns, Pareto flags, output formats and bad input.

Expected values are worked out by hand from the reports in `compare_helpers.py` (see its docstring).
"""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import pytest
from compare_helpers import BIBLEQA_RUNS, GIB, IMDB_RUNS, make_report, write_run, write_runs

from peft_efficiency.compare.cli import main as compare_main
from peft_efficiency.compare.load import load_runs
from peft_efficiency.compare.pareto import higher_is_better, pareto_front
from peft_efficiency.compare.render import format_bytes, format_cell, format_count, format_seconds, render
from peft_efficiency.compare.table import build_tables


@pytest.fixture()
def run_dirs(tmp_path: Path) -> list[Path]:
    return write_runs(tmp_path, IMDB_RUNS) + write_runs(tmp_path, BIBLEQA_RUNS)


def by_method(table) -> dict[str, dict]:
    return {value["method"]: value for value in table.values}


def test_pareto_front_by_hand() -> None:
    # (cost, quality): (500, 0.7) is dominated by (10, 0.8); equal points do not dominate each other.
    points = [(10, 0.8), (1000, 0.9), (500, 0.7), (10, 0.8), (None, 0.99)]
    assert pareto_front(points) == [0, 1, 3]
    # quality lower-is-better (a loss): (500, 0.7) now beats (1000, 0.9) and is beaten by nothing cheaper with less loss.
    assert pareto_front([(10, 0.8), (1000, 0.9), (500, 0.7)], y_higher_is_better=False) == [0, 2]


def test_metric_direction() -> None:
    assert higher_is_better("eval_accuracy") and higher_is_better("bibleqa/lenient")
    assert not higher_is_better("eval_loss") and not higher_is_better("perplexity")
    assert higher_is_better("eval_loss", declared=True)


def test_groups_ranking_relative_columns_and_frontier(run_dirs: list[Path]) -> None:
    rows, problems = load_runs(run_dirs)
    assert [p for p in problems if p.skipped] == []
    imdb, bible = build_tables(rows)
    assert (imdb.task, imdb.model_name, bible.task) == ("imdb", "all-MiniLM-L6-v2", "bibleqa")
    assert [v["method"] for v in imdb.values] == ["full", "lora", "bitfit", "ia3", "prompt_tuning"]
    assert [v["method"] for v in bible.values] == ["lora", "base"]  # never mixed with the IMDb runs
    values = by_method(imdb)
    # speed-up = samples/s / (3200 / 400), = 400 / train s as every run sees 3,200 samples;
    # memory saved = 1 - peak / 2 GiB; delta = accuracy - 0.90
    assert values["lora"]["speedup_vs_full"] == pytest.approx(2.5)
    assert values["ia3"]["speedup_vs_full"] == pytest.approx(2.0)
    assert values["prompt_tuning"]["speedup_vs_full"] == pytest.approx(400 / 180)
    assert values["lora"]["memory_saved_vs_full_percent"] == pytest.approx(50.0)
    assert values["ia3"]["memory_saved_vs_full_percent"] == pytest.approx(25.0, abs=1e-6)
    assert values["lora"]["quality_delta_vs_full"] == pytest.approx(-0.02)
    assert values["prompt_tuning"]["quality_delta_vs_full"] == pytest.approx(-0.20)
    assert values["full"]["speedup_vs_full"] == pytest.approx(1.0)
    assert values["lora"]["trainable_percent"] == pytest.approx(100 * 147_456 / (22_713_602 + 147_456))
    assert {m: v["pareto_params"] for m, v in values.items()} == {
        "full": True, "lora": True, "bitfit": False, "ia3": True, "prompt_tuning": True}
    assert values["bitfit"]["energy_kwh"] is None and values["bitfit"]["co2_kg"] is None
    assert any("bitfit" in note and "RAPL" in note for note in imdb.notes)
    # no full run for BibleQA: no relative columns at all
    assert "speedup_vs_full" not in [c.key for c in bible.columns]
    assert by_method(bible)["base"]["train_seconds"] is None


def test_terminal_table_shows_missing_as_na_never_zero(run_dirs: list[Path]) -> None:
    rows, _ = load_runs(run_dirs)
    text = render(build_tables(rows), "table")
    bitfit = next(line for line in text.splitlines() if line.startswith("bitfit"))
    assert bitfit.split()[:4] == ["bitfit", "0.8700", "4m", "10s"]
    assert "n/a" in bitfit and " Wh" not in bitfit
    lora = next(line for line in text.splitlines() if line.startswith("lora") and "147k" in line)
    for expected in ("0.8800", "2m 40s", "147k", "1.00 GiB", "4 Wh", "1.6 g", "2.50x", "+50%", "-0.0200", "yes"):
        assert expected in lora
    assert "== imdb · all-MiniLM-L6-v2 (5 runs; ranked by eval_accuracy, higher is better) ==" in text
    assert "== bibleqa · SmolLM2-135M-Instruct (2 runs; ranked by bibleqa/lenient, higher is better) ==" in text


def test_markdown_csv_json(run_dirs: list[Path]) -> None:
    rows, _ = load_runs(run_dirs)
    tables = build_tables(rows)
    markdown = render(tables, "markdown").splitlines()
    header = markdown.index("### imdb · all-MiniLM-L6-v2 (5 runs; ranked by eval_accuracy, higher is better)") + 2
    assert all(markdown[header + k].count("|") == 14 for k in range(7))  # 13 columns, header + rule + 5 runs
    records = list(csv.DictReader(io.StringIO(render(tables, "csv"))))
    assert len(records) == 7
    lora_imdb = next(r for r in records if r["method"] == "lora" and r["task"] == "imdb")
    assert float(lora_imdb["speedup_vs_full"]) == pytest.approx(2.5)
    assert int(lora_imdb["peak_memory_bytes"]) == GIB
    bitfit = next(r for r in records if r["method"] == "bitfit")
    assert bitfit["energy_kwh"] == "" and bitfit["co2_kg"] == ""
    assert next(r for r in records if r["task"] == "bibleqa")["speedup_vs_full"] == ""
    groups = json.loads(render(tables, "json"))["groups"]
    assert [g["task"] for g in groups] == ["imdb", "bibleqa"]
    runs = {r["method"]: r for r in groups[0]["runs"]}
    assert runs["bitfit"]["energy_kwh"] is None and runs["full"]["energy_kwh"] == pytest.approx(0.010)
    assert groups[0]["baseline"].endswith("full/efficiency_report.json")


def test_lower_is_better_metric_ranks_ascending(tmp_path: Path) -> None:
    runs = {name: make_report(name, metric="eval_loss", value=loss, trainable=t, train_seconds=10.0,
                              greater_is_better=False)
            for name, loss, t in (("full", 0.5, 1000), ("lora", 0.4, 10), ("ia3", 0.6, 5))}
    rows, _ = load_runs(write_runs(tmp_path, runs))
    (table,) = build_tables(rows)
    assert [v["method"] for v in table.values] == ["lora", "full", "ia3"]
    values = by_method(table)
    assert values["lora"]["quality_delta_vs_full"] == pytest.approx(-0.1)
    assert {m: v["pareto_params"] for m, v in values.items()} == {"lora": True, "full": False, "ia3": True}


def test_repeated_method_gets_distinct_labels(tmp_path: Path) -> None:
    first, second = make_report("lora", value=0.8, trainable=10), make_report("lora", value=0.9, trainable=20)
    first["run"]["run_name"], second["run"]["run_name"] = "r8", "r16"
    rows, _ = load_runs([write_run(tmp_path, "a", first), write_run(tmp_path, "b", second)])
    assert [v["method"] for v in build_tables(rows)[0].values] == ["lora (r16)", "lora (r8)"]


def test_formatting_by_hand() -> None:
    assert format_seconds(400) == "6m 40s" and format_seconds(12.34) == "12.3 s" and format_seconds(7380) == "2h 03m"
    assert format_count(22_713_602) == "22.7M" and format_count(147_456) == "147k" and format_count(0) == "0"
    assert format_bytes(2 * GIB) == "2.00 GiB" and format_bytes(512 * 1024**2) == "512 MiB"
    assert format_cell(0.010, "kwh") == "10 Wh" and format_cell(2.5, "kwh") == "2.5 kWh"
    assert format_cell(0.0016, "kg") == "1.6 g" and format_cell(None, "kwh") == "n/a"


def test_cli_bad_inputs_are_named_and_the_rest_is_still_compared(tmp_path: Path, run_dirs: list[Path], capsys) -> None:
    empty = tmp_path / "no_report"
    empty.mkdir()
    truncated = write_run(tmp_path, "truncated", json.dumps(IMDB_RUNS["lora"])[:200])
    newer = write_run(tmp_path, "newer", {**IMDB_RUNS["lora"], "schema_version": 4})
    older = write_run(tmp_path, "older", {**IMDB_RUNS["lora"], "schema_version": 0})
    no_energy = copy.deepcopy(IMDB_RUNS["ia3"])
    del no_energy["energy"]
    no_energy["run"]["method"] = "ia3_noenergy"
    no_energy_dir = write_run(tmp_path, "no_energy", no_energy)
    code = compare_main([str(p) for p in (*run_dirs, empty, truncated, newer, older, no_energy_dir)] + ["--format", "csv"])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"{empty / 'efficiency_report.json'}: no run report here" in err
    assert f"{truncated / 'efficiency_report.json'}: not valid JSON" in err and "truncated" in err
    assert f"{newer / 'efficiency_report.json'}: schema_version 4 is newer" in err
    assert f"{older / 'efficiency_report.json'}: schema_version 0 is older" in err
    assert f"warning {no_energy_dir / 'efficiency_report.json'}: no 'energy' section" in err
    assert "4 of 12 report(s) skipped" in err
    records = list(csv.DictReader(io.StringIO(out)))
    assert len(records) == 8  # 7 good runs + the one without an energy section
    assert next(r for r in records if r["method"] == "ia3_noenergy")["energy_kwh"] == ""


def test_cli_exit_codes(tmp_path: Path, run_dirs: list[Path], capsys) -> None:
    assert compare_main([str(run_dirs[0]), "--quiet"]) == 0
    (tmp_path / "nothing").mkdir()
    assert compare_main([str(tmp_path / "nothing")]) == 2
    assert "nothing to compare" in capsys.readouterr().err
    assert compare_main(["--format", "yaml", str(run_dirs[0])]) == 2


def test_out_dir_writes_every_format(tmp_path: Path, run_dirs: list[Path]) -> None:
    from peft_efficiency.cli import main as top_main  # through the `peft-efficiency compare` dispatcher

    out = tmp_path / "out"
    assert top_main(["compare", *map(str, run_dirs[:5]), "--out-dir", str(out), "--quiet"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["comparison.csv", "comparison.json", "comparison.md", "comparison.txt", "pareto-bars.png",
                     "pareto-bars.svg", "pareto.png", "pareto.svg", "report.html"]
    assert (out / "comparison.txt").read_text().startswith("== imdb · all-MiniLM-L6-v2 (5 runs;")


def test_a_folder_of_runs_is_searched(tmp_path: Path) -> None:
    write_runs(tmp_path / "runs" / "imdb", IMDB_RUNS)
    (tmp_path / "runs" / "empty").mkdir()
    rows, problems = load_runs([tmp_path / "runs"])
    assert sorted(r.method for r in rows) == sorted(IMDB_RUNS) and problems == []
    rows, problems = load_runs([tmp_path / "runs" / "empty"])
    assert rows == [] and problems[0].skipped and "no run report here" in problems[0].message


def test_overhead_columns_only_when_asked(tmp_path: Path, capsys) -> None:
    report = make_report("lora", value=0.8, trainable=1000, train_seconds=50.0)
    report["overhead"] = {"overhead_seconds": 0.5, "overhead_share": 0.01, "startup_seconds": 1.2}
    write_run(tmp_path, "lora", report)
    assert compare_main([str(tmp_path / "lora"), "--format", "markdown"]) == 0
    assert "plugin overhead" not in capsys.readouterr().out
    assert compare_main([str(tmp_path / "lora"), "--format", "markdown", "--columns", "overhead"]) == 0
    table = capsys.readouterr().out
    header = [h.strip() for h in table.splitlines()[[i for i, l in enumerate(table.splitlines()) if "plugin overhead" in l][0]].split("|")]
    row = [c.strip() for c in [l for l in table.splitlines() if l.startswith("| lora")][0].split("|")]
    assert row[header.index("overhead %")] == "1%"
    assert row[header.index("plugin overhead")].startswith("0.5")
    assert compare_main([str(tmp_path / "lora"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["groups"][0]["runs"][0]["overhead_seconds"] == 0.5


MIB = 1024**2


def with_training_state(report: dict, weights: int, gradients: int, optimizer: int, kind: str = "process_rss") -> dict:
    report = copy.deepcopy(report)
    report["memory"].update(weights_bytes=weights, gradients_bytes=gradients, optimizer_state_bytes=optimizer,
                            training_state_bytes=weights + gradients + optimizer, peak_memory_kind=kind)
    return report


def test_training_state_column_and_memory_saved_from_it_on_cpu(tmp_path: Path) -> None:
    # full: 88 MiB of weights, their gradients and 2 AdamW moments -> 352 MiB; lora: the same frozen weights plus
    # 1 MiB trained (1 MiB gradients, 2 MiB moments) -> 92 MiB: saves 1 - 92/352 = 73.86%, where peak RSS said 50%.
    full = with_training_state(IMDB_RUNS["full"], 88 * MIB, 88 * MIB, 176 * MIB)
    lora = with_training_state(IMDB_RUNS["lora"], 89 * MIB, 1 * MIB, 2 * MIB)
    old = copy.deepcopy(IMDB_RUNS["ia3"])
    old["schema_version"] = 1  # written before the training state existed: n/a, and its saving from peak RSS
    rows, problems = load_runs(write_runs(tmp_path, {"full": full, "lora": lora, "ia3": old}))
    assert [p for p in problems if p.skipped] == []
    (table,) = build_tables(rows)
    values = by_method(table)
    assert "training_state_bytes" in [c.key for c in table.columns]
    assert values["full"]["training_state_bytes"] == 352 * MIB and values["ia3"]["training_state_bytes"] is None
    assert values["lora"]["memory_saved_vs_full_percent"] == pytest.approx(100 * (1 - 92 / 352))
    assert values["ia3"]["memory_saved_vs_full_percent"] == pytest.approx(25.0, abs=1e-6)  # 1 - 1.5 GiB / 2 GiB
    assert any(n.startswith("memory saved vs full from the training state") for n in table.notes)
    assert "training state n/a for ia3: version-1 report(s), written before it was measured" in table.notes
    text = render([table], "table")
    lora_line = next(line for line in text.splitlines() if line.startswith("lora"))
    assert "92 MiB" in lora_line and "+74%" in lora_line
    assert "n/a" in next(line for line in text.splitlines() if line.startswith("ia3"))


def test_on_gpu_memory_saved_stays_the_cuda_peak(tmp_path: Path) -> None:
    full = with_training_state(IMDB_RUNS["full"], 88 * MIB, 88 * MIB, 176 * MIB, kind="cuda_allocated")
    lora = with_training_state(IMDB_RUNS["lora"], 89 * MIB, 1 * MIB, 2 * MIB, kind="cuda_allocated")
    rows, _ = load_runs(write_runs(tmp_path, {"full": full, "lora": lora}))
    (table,) = build_tables(rows, optional=("training_state",))
    assert by_method(table)["lora"]["memory_saved_vs_full_percent"] == pytest.approx(50.0)  # 1 - 1 GiB / 2 GiB
    assert not any("from the training state" in n for n in table.notes)
    keys = [c.key for c in table.columns]
    assert {"weights_bytes", "gradients_bytes", "optimizer_state_bytes", "activation_peak_bytes"} <= set(keys)
    assert by_method(table)["lora"]["optimizer_state_bytes"] == 2 * MIB



def test_pareto_front_matches_the_definition_on_random_points() -> None:
    """The sweep agrees with the definition (no other point at least as good on both axes, better on one), checked
    pair by pair, on random points with ties, duplicates and missing figures, for every direction."""
    import random

    rng = random.Random(7)
    for _ in range(300):
        points = [(rng.choice([None, rng.randint(0, 6)]), rng.choice([None, float("nan"), rng.randint(0, 6) / 2]))
                  for _ in range(rng.randint(0, 14))]
        for x_low in (True, False):
            for y_high in (True, False):
                def better_or_equal(a: float, b: float, lower: bool) -> bool:
                    return a <= b if lower else a >= b

                usable = [i for i, (x, y) in enumerate(points) if x is not None and y is not None and y == y]
                expected = [i for i in usable if not any(
                    better_or_equal(points[j][0], points[i][0], x_low) and better_or_equal(points[j][1], points[i][1], not y_high)
                    and points[j] != points[i] for j in usable)]
                assert pareto_front(points, x_low, y_high) == expected, (points, x_low, y_high)
