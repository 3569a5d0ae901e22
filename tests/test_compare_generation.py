"""The generation phase of RL trainers in the comparison: `generation time` and `generation %` columns, shown only
when some run of the group reports `time.generation_seconds`, in every output format."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from compare_helpers import make_report, write_run

from peft_efficiency.compare.load import load_runs
from peft_efficiency.compare.render import render
from peft_efficiency.compare.table import build_tables


def _rl_runs(tmp_path: Path) -> list[Path]:
    """GRPO-style runs: lora spent 30 s of 120 s generating, full 90 s of 200 s; a plain run has no generation."""
    lora = make_report("lora", value=0.5, trainable=1000, train_seconds=120.0)
    lora["time"].update(generation_seconds=30.0, generation_share=0.25, generated_tokens=6000,
                        generation_tokens_per_second=200.0)
    lora["flops"].update(generation_flops=1.0e12, reference_flops=2.0e11, hfu=0.1)
    full = make_report("full", value=0.6, trainable=22_713_602, train_seconds=200.0)
    full["time"].update(generation_seconds=90.0, generation_share=0.45)
    plain = make_report("bitfit", value=0.4, trainable=500, train_seconds=100.0)
    return [write_run(tmp_path, "lora", lora), write_run(tmp_path, "full", full), write_run(tmp_path, "bitfit", plain)]


def test_generation_columns_carry_the_reports_figures_in_every_format(tmp_path: Path) -> None:
    rows, problems = load_runs(_rl_runs(tmp_path))
    assert not [p for p in problems if p.skipped]
    (table,) = build_tables(rows)
    keys = [c.key for c in table.columns]
    assert keys.index("generation_seconds") == keys.index("generation_percent") - 1
    values = {v["method"]: v for v in table.values}
    assert values["lora"]["generation_seconds"] == 30.0 and values["lora"]["generation_percent"] == 25.0
    assert values["full"]["generation_seconds"] == 90.0 and values["full"]["generation_percent"] == 45.0
    assert values["bitfit"]["generation_seconds"] is None and values["bitfit"]["generation_percent"] is None

    text = render([table], "table")
    header = text.splitlines()[1]
    assert "generation time" in header and "generation %" in header
    lora_line = next(line for line in text.splitlines() if line.startswith("lora"))
    assert "30.0 s" in lora_line and "25%" in lora_line
    bitfit_line = next(line for line in text.splitlines() if line.startswith("bitfit"))
    assert bitfit_line.count("n/a") >= 2  # no generation phase: n/a, never 0

    markdown = render([table], "markdown")
    assert "| generation time | generation % |" in markdown
    full_md = next(line for line in markdown.splitlines() if line.startswith("| full "))
    assert "| 1m 30s | 45% |" in full_md

    records = {r["method"]: r for r in csv.DictReader(io.StringIO(render([table], "csv")))}
    assert float(records["full"]["generation_seconds"]) == 90.0 and float(records["full"]["generation_percent"]) == 45.0
    assert records["bitfit"]["generation_seconds"] == ""

    runs = {r["method"]: r for r in json.loads(render([table], "json"))["groups"][0]["runs"]}
    assert runs["lora"]["generation_seconds"] == 30.0 and runs["lora"]["generation_percent"] == 25.0
    assert runs["bitfit"]["generation_percent"] is None


def test_no_generation_columns_without_a_generation_phase(tmp_path: Path) -> None:
    folder = write_run(tmp_path, "lora", make_report("lora", value=0.5, trainable=1000, train_seconds=120.0))
    rows, _ = load_runs([folder])
    (table,) = build_tables(rows)
    assert not {"generation_seconds", "generation_percent"} & {c.key for c in table.columns}
    assert "generation" not in render([table], "table").splitlines()[1]  # the header line
    assert "generation" not in render([table], "csv").splitlines()[0]
