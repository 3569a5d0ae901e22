"""`peft-efficiency compare` under bad input and faults: each case runs the real CLI on real files in tmp_path.

Unreadable inputs (binary, another encoding, wrong shape, wrong-typed schema_version...) are skipped with one
stderr line naming the file (exit 1); a diverged run (NaN or infinite quality) is ranked after every finite run
and never on the Pareto frontier, whatever the order of the inputs; NaN figures never crash any output and
`--format json` stays strict JSON; an output that cannot be written gives one line and exit 3.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from compare_helpers import IMDB_RUNS, MINILM_TOTAL, make_report, write_run, write_runs

from peft_efficiency.compare.cli import main as compare_main

PREFIX = "peft-efficiency compare: "
REPORT = "efficiency_report.json"
REPO_ROOT = Path(__file__).resolve().parents[1]


def strict_json(text: str) -> Any:
    """Parse `text` refusing NaN/Infinity (which Python's json would otherwise accept)."""
    def refuse(token: str) -> None:
        raise ValueError(f"not strict JSON: bare {token}")

    return json.loads(text, parse_constant=refuse)


def run_cli(args: list[Any], capsys) -> tuple[int, str, str]:
    code = compare_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def methods(group: dict[str, Any]) -> list[str]:
    return [run["method"] for run in group["runs"]]


def good_pair(root: Path) -> list[Path]:
    return write_runs(root, {"full": IMDB_RUNS["full"], "lora": IMDB_RUNS["lora"]})


def write_bytes_run(root: Path, name: str, data: bytes) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / REPORT).write_bytes(data)
    return folder / REPORT


LATIN1_TEXT = json.dumps({**IMDB_RUNS["lora"], "run": {**IMDB_RUNS["lora"]["run"], "run_name": "café"}},
                         ensure_ascii=False)
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"


def _with(**changes: Any) -> bytes:
    return json.dumps({**IMDB_RUNS["lora"], **changes}).encode()


# (case id, file bytes, the reason expected after "<path>: ")
UNREADABLE = [
    ("binary", PNG_BYTES, f"a binary file, not a JSON run report; pass the run folder or its {REPORT}"),
    ("latin-1", LATIN1_TEXT.encode("latin-1"),
     f"not UTF-8 text (byte 0xe9 at offset {LATIN1_TEXT.index('é')}); run reports are UTF-8 JSON, re-save the file as UTF-8"),
    ("utf-16", json.dumps(IMDB_RUNS["lora"]).encode("utf-16"),
     "UTF-16 text; run reports are UTF-8 JSON, re-save the file as UTF-8"),
    ("empty", b"", "the file is empty; the run may have been killed before its report was written"),
    ("json list", b"[1, 2]", "a run report must be a JSON object, found a list"),
    ("version string", _with(schema_version="1"),
     'schema_version is a string ("1"), expected the number 1 or 2 or 3; the file was edited by hand or written by another tool'),
    ("version bool", _with(schema_version=True),
     "schema_version is a boolean (true), expected the number 1 or 2 or 3; the file was edited by hand or written by another tool"),
    ("version NaN", _with(schema_version=math.nan),
     "schema_version is a number (NaN), expected the number 1 or 2 or 3; the file was edited by hand or written by another tool"),
    ("section a list", _with(time=[400.0]),
     "section 'time' is a list, expected an object; the file does not follow the run report schema"),
    ("section a string", _with(run="lora"),
     "section 'run' is a string, expected an object; the file does not follow the run report schema"),
    ("no sections", b'{"schema_version": 1, "accuracy": 0.9}',
     "none of the report sections (run, params, time, memory, energy, flops, quality, environment); "
     "this is not a run report of this schema"),
    ("labels a list", _with(run={**IMDB_RUNS["lora"]["run"], "labels": ["split", "30/70"]}),
     "run.labels is a list, expected an object of text labels"),
    ("label an object", _with(run={**IMDB_RUNS["lora"]["run"], "labels": {"split": {"train": 30}}}),
     "run.labels.split is an object, expected text"),
]


@pytest.mark.parametrize("data, reason", [c[1:] for c in UNREADABLE], ids=[c[0] for c in UNREADABLE])
def test_unreadable_input_is_skipped_with_one_line(tmp_path: Path, capsys, data: bytes, reason: str) -> None:
    good = good_pair(tmp_path)
    bad = write_bytes_run(tmp_path, "bad", data)
    code, out, err = run_cli([*good, bad.parent, "--format", "json"], capsys)
    assert code == 1
    assert f"{PREFIX}skipped {bad}: {reason}" in err.splitlines()
    assert sum(str(bad) in line for line in err.splitlines()) == 1 and "Traceback" not in err
    assert err.splitlines()[-1] == f"{PREFIX}1 of 3 report(s) skipped (see above)"
    (group,) = strict_json(out)["groups"]
    assert methods(group) == ["full", "lora"]  # the rest is still compared


def test_a_folder_where_the_report_should_be(tmp_path: Path, capsys) -> None:
    good = good_pair(tmp_path)
    (tmp_path / "odd" / REPORT).mkdir(parents=True)
    code, _, err = run_cli([*good, tmp_path / "odd"], capsys)
    assert code == 1
    assert f"{PREFIX}skipped {tmp_path / 'odd' / REPORT}: cannot read it (Is a directory); check the path and its permissions" in err


def test_only_unreadable_inputs_exit_2(tmp_path: Path, capsys) -> None:
    bad = write_bytes_run(tmp_path, "bad", PNG_BYTES)
    code, out, err = run_cli([bad], capsys)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == f"{PREFIX}none of the 1 report(s) given was usable; nothing to compare"


def test_binary_input_through_the_installed_command(tmp_path: Path) -> None:
    good = good_pair(tmp_path)
    bad = write_bytes_run(tmp_path, "bad", bytes(range(256)) * 4)
    result = subprocess.run([sys.executable, "-m", "peft_efficiency.cli", "compare", *map(str, good), str(bad),
                             "--format", "csv"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 1, result.stderr
    assert f"{PREFIX}skipped {bad}: a binary file, not a JSON run report" in result.stderr
    assert "Traceback" not in result.stderr
    assert [line.split(",")[4] for line in result.stdout.splitlines()[1:]] == ["full", "lora"]


def test_wrong_typed_figures_are_warned_and_shown_as_na(tmp_path: Path, capsys) -> None:
    odd = make_report("ia3", value=0.85, trainable=20_000, train_seconds=200.0)
    odd["time"]["train_seconds"] = "200"
    odd["quality"]["greater_is_better"] = "yes"
    odd["run"]["task"] = ["imdb"]
    folder = write_run(tmp_path, "odd", odd)
    code, out, err = run_cli([folder, "--format", "json"], capsys)
    assert code == 0  # read with gaps: warnings only
    report = folder / REPORT
    assert f'{PREFIX}warning {report}: time.train_seconds is "200", not a finite number; shown as n/a' in err
    assert f'{PREFIX}warning {report}: quality.greater_is_better is "yes", not true/false; ignored' in err
    assert f'{PREFIX}warning {report}: run.task is list ["imdb"], not text; ignored' in err
    (group,) = strict_json(out)["groups"]
    assert group["task"] == "unknown task" and group["runs"][0]["train_seconds"] is None


# (case id, diverged quality, greater_is_better): the run must land after both finite runs in every case
DIVERGED = [("nan accuracy", math.nan, True), ("inf accuracy", math.inf, True), ("-inf loss", -math.inf, False),
            ("nan loss", math.nan, False)]


@pytest.mark.parametrize("value, higher", [c[1:] for c in DIVERGED], ids=[c[0] for c in DIVERGED])
def test_diverged_run_is_last_never_pareto_and_order_free(tmp_path: Path, capsys, value: float, higher: bool) -> None:
    metric = "eval_accuracy" if higher else "eval_loss"
    good, worse = (0.9, 0.8) if higher else (0.3, 0.5)
    runs = {
        "full": make_report("full", metric=metric, value=good, trainable=MINILM_TOTAL, train_seconds=400.0,
                            greater_is_better=higher),
        "ia3": make_report("ia3", metric=metric, value=worse, trainable=20_000, train_seconds=200.0,
                           greater_is_better=higher),
        # fewest parameters: it would be on the frontier, and first, if its quality were taken at face value
        "lora": make_report("lora", metric=metric, value=value, trainable=100, train_seconds=150.0,
                            greater_is_better=higher),
    }
    folders = write_runs(tmp_path, runs)
    assert "NaN" in (folders[2] / REPORT).read_text() or "Infinity" in (folders[2] / REPORT).read_text()
    orders = []
    for args in (folders, folders[::-1]):
        code, out, err = run_cli([*args, "--format", "json"], capsys)
        assert code == 0
        (group,) = strict_json(out)["groups"]
        orders.append(methods(group))
        lora = group["runs"][-1]
        assert lora["method"] == "lora" and lora["diverged"] is True and lora["pareto_params"] is False
        assert lora[metric] is None and lora["quality_delta_vs_full"] is None
        assert [r["pareto_params"] for r in group["runs"][:2]] == [True, True]
        assert any("lora diverged" in note for note in group["notes"])
    assert orders == [["full", "ia3", "lora"], ["full", "ia3", "lora"]]
    code, out, _ = run_cli([*folders, "--format", "table"], capsys)
    line = next(line for line in out.splitlines() if line.startswith("lora"))
    assert line.split()[1:3] == ["diverged", "yes"]


def test_ties_rank_the_same_whatever_the_input_order(tmp_path: Path, capsys) -> None:
    runs = {name: make_report(method, value=0.85, trainable=trainable, train_seconds=100.0, run_name=name)
            for name, method, trainable in (("p", "prompt", 5_000), ("i", "ia3", 20_000), ("b", "bitfit", 20_000),
                                            ("l1", "lora", 147_456), ("l2", "lora", 147_456))}
    folders = write_runs(tmp_path, runs)
    seen = []
    for args in (folders, folders[::-1], folders[2:] + folders[:2]):
        code, out, _ = run_cli([*args, "--format", "json"], capsys)
        seen.append(methods(strict_json(out)["groups"][0]))
    # same accuracy: fewer trainable parameters first, then by label
    assert seen == [["prompt", "bitfit", "ia3", "lora (l1)", "lora (l2)"]] * 3


def test_nan_and_inf_figures_never_crash_any_output(tmp_path: Path, capsys) -> None:
    broken = make_report("lora", value=0.88, trainable=147_456, train_seconds=math.nan, peak_memory_bytes=None,
                         energy_kwh=math.inf, co2_kg=math.nan, samples_per_second=math.nan,
                         step_seconds_median=math.inf)
    broken["memory"]["peak_memory_bytes"] = math.nan
    broken["params"]["trainable_percent"] = math.inf
    folders = [write_run(tmp_path, "full", IMDB_RUNS["full"]), write_run(tmp_path, "lora", broken)]
    out_dir = tmp_path / "out"
    code, out, err = run_cli([*folders, "--out-dir", out_dir, "--html", tmp_path / "page.html",
                              "--plot", tmp_path / "plots" / "p.png"], capsys)
    assert code == 0, err
    report = folders[1] / REPORT
    for field, shown in (("time.train_seconds", "NaN"), ("energy.energy_kwh", "Infinity"),
                         ("memory.peak_memory_bytes", "NaN"), ("time.samples_per_second", "NaN")):
        assert f"{PREFIX}warning {report}: {field} is {shown}, not a finite number; shown as n/a" in err
    lora_line = next(line for line in out.splitlines() if line.startswith("lora"))
    assert lora_line.split()[:5] == ["lora", "0.8800", "n/a", "n/a", "147k"]
    (group,) = strict_json((out_dir / "comparison.json").read_text())["groups"]
    lora = group["runs"][1]
    assert (lora["train_seconds"], lora["energy_kwh"], lora["speedup_vs_full"]) == (None, None, None)
    assert lora["trainable_percent"] == pytest.approx(100 * 147_456 / MINILM_TOTAL)  # worked out from the counts
    csv_lora = (out_dir / "comparison.csv").read_text().splitlines()[2].split(",")
    assert "nan" not in (c.lower() for c in csv_lora) and "inf" not in (c.lower() for c in csv_lora)
    assert "| lora | 0.8800 | n/a |" in (out_dir / "comparison.md").read_text()
    page = (tmp_path / "page.html").read_text()
    lora_cells = re.search(r'<tr[^>]*data-method="lora">(.*?)</tr>', page).group(1)
    assert '<td class="num missing" data-key="train_seconds">n/a</td>' in lora_cells
    assert not re.search(r">[^<]*(nan|inf)[^<]*<", lora_cells, re.IGNORECASE)
    assert (tmp_path / "plots" / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_diverged_run_in_plots_and_html(tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib")
    runs = {"full": IMDB_RUNS["full"], "lora": make_report("lora", value=math.nan, trainable=100, train_seconds=100.0)}
    out_dir = tmp_path / "out"
    code, _, err = run_cli([*write_runs(tmp_path, runs), "--out-dir", out_dir, "--quiet"], capsys)
    assert code == 0, err
    page = (out_dir / "report.html").read_text()
    assert '<td class="num" data-key="eval_accuracy">diverged</td>' in page
    assert (out_dir / "pareto.png").read_bytes()[:4] == b"\x89PNG"


def test_json_output_is_strict_through_the_installed_command(tmp_path: Path) -> None:
    runs = {"full": IMDB_RUNS["full"], "lora": make_report("lora", value=math.nan, trainable=100, train_seconds=100.0)}
    result = subprocess.run([sys.executable, "-m", "peft_efficiency.cli", "compare",
                             *map(str, write_runs(tmp_path, runs)), "--format", "json"],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    runs_out = strict_json(result.stdout)["groups"][0]["runs"]
    assert [(r["method"], r["eval_accuracy"], r["diverged"]) for r in runs_out] == [("full", 0.9, False), ("lora", None, True)]


def test_same_folder_names_under_different_parents_get_distinct_labels(tmp_path: Path, capsys) -> None:
    folders = [write_run(tmp_path / "runs" / parent, "lora", make_report("lora", value=v, trainable=10))
               for parent, v in (("a", 0.8), ("b", 0.9))]
    folders += [write_run(tmp_path / "x" / "same", "lora", make_report("lora", value=0.7, trainable=10)),
                write_run(tmp_path / "y" / "same", "lora", make_report("lora", value=0.6, trainable=10))]
    for args in (folders, folders[::-1]):
        code, out, _ = run_cli([*args, "--format", "json"], capsys)
        assert code == 0
        assert methods(strict_json(out)["groups"][0]) == [
            "lora (b/lora)", "lora (a/lora)", "lora (x/same/lora)", "lora (y/same/lora)"]


# (case id, options pointing at an unwritable place, which option, the target that fails)
def _write_failures(tmp: Path) -> list[tuple[list[str], str, Path]]:
    blocker = tmp / "a-file"
    return [
        (["--out-dir", str(blocker / "out")], "--out-dir", blocker / "out"),
        (["--html", str(blocker / "page.html")], "--html", blocker / "page.html"),
        (["--plot", str(blocker / "plots" / "p.png")], "--plot", blocker / "plots" / "p.png"),
    ]


@pytest.mark.parametrize("case", range(3), ids=["out-dir", "html", "plot"])
def test_unwritable_output_gives_one_line_and_exit_3(tmp_path: Path, capsys, case: int) -> None:
    (tmp_path / "a-file").write_text("I am a file\n")
    options, option, target = _write_failures(tmp_path)[case]
    code, out, err = run_cli([*good_pair(tmp_path / "runs"), *options], capsys)
    assert code == 3
    assert err.splitlines() == [f"{PREFIX}cannot write {option} {target}: {tmp_path / 'a-file'} is a file, not a folder; "
                                "give a path in a folder you can write to"]
    assert out.startswith("== imdb · all-MiniLM-L6-v2 (2 runs;")  # the table was still printed


def test_out_dir_that_is_a_file_and_other_targets_still_written(tmp_path: Path, capsys) -> None:
    (tmp_path / "taken").write_text("x")
    bad = write_bytes_run(tmp_path / "runs", "bad", PNG_BYTES)
    page = tmp_path / "ok" / "page.html"
    code, _, err = run_cli([*good_pair(tmp_path / "runs"), bad, "--out-dir", tmp_path / "taken", "--html", page,
                            "--quiet"], capsys)
    assert code == 3  # a write failure wins over a skipped input (1)
    lines = err.splitlines()
    assert (f"{PREFIX}cannot write --out-dir {tmp_path / 'taken'}: {tmp_path / 'taken'} is a file, not a folder; "
            "give a path in a folder you can write to") in lines
    assert f"{PREFIX}wrote {page}" in lines and page.read_text().startswith("<!DOCTYPE html>")
    assert f"{PREFIX}skipped {bad}: a binary file, not a JSON run report; pass the run folder or its {REPORT}" in lines


def test_help_documents_exit_status_3(capsys) -> None:
    assert compare_main(["--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "3 an output file (--out-dir, --plot, --html) could not be written" in help_text
