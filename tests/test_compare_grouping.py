"""Right numbers in `compare`: speed-up from throughput (not schedule), and groups by the run's whole identity.

Each case runs the real CLI on reports written to tmp_path; the expected figures are worked out by hand in the
comments. Labels are the ones the recipes write (`recipe`, `entry`, `smoke`; `peft_efficiency/recipe_kit/run.py`)
and the demo writes (`demo`, `smoke`, `sft_data`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from compare_helpers import MINILM_TOTAL, make_report, write_run, write_runs

from peft_efficiency.compare.cli import main as compare_main
from peft_efficiency.compare.identity import entry_setting, setting_of


def compare_json(args: list[Any], capsys) -> tuple[list[dict[str, Any]], str]:
    code = compare_main([*map(str, args), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)["groups"], err


def by_method(group: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {run["method"]: run for run in group["runs"]}


# (case id, full's (samples, train s), lora's (samples, train s), expected speed-up, total-time ratio for contrast)
THROUGHPUT = [
    # same 8 samples/s, lora saw half the samples: not faster at all (the old ratio said 2.00x)
    ("half the samples", (3200, 400.0), (1600, 200.0), 1.0, 2.0),
    # imdb_roberta: full 5 epochs of 3,000 = 15,000 samples in 1,500 s (10/s); LoRA 3 epochs = 9,000 in 600 s (15/s)
    ("5 vs 3 epochs", (15_000, 1500.0), (9_000, 600.0), 1.5, 2.5),
    # LoRA really is faster per sample and trains the same schedule: the two definitions agree
    ("same schedule", (3200, 400.0), (3200, 160.0), 2.5, 2.5),
]


@pytest.mark.parametrize("full, lora, expected, old", [c[1:] for c in THROUGHPUT], ids=[c[0] for c in THROUGHPUT])
def test_speedup_is_throughput_not_total_time(tmp_path: Path, capsys, full, lora, expected, old) -> None:
    runs = {"full": make_report("full", value=0.9, trainable=MINILM_TOTAL, samples=full[0], train_seconds=full[1]),
            "lora": make_report("lora", value=0.88, trainable=147_456, samples=lora[0], train_seconds=lora[1])}
    (group,), _ = compare_json(write_runs(tmp_path, runs), capsys)
    values = by_method(group)
    assert values["lora"]["speedup_vs_full"] == pytest.approx(expected)
    assert values["lora"]["train_seconds"] == lora[1]  # total time is still shown
    assert values["lora"]["samples_per_second"] == pytest.approx(lora[0] / lora[1])
    compare_main([str(tmp_path / "full"), str(tmp_path / "lora"), "--format", "table"])
    header = capsys.readouterr().out.splitlines()[1]
    assert "train time" in header and "samples/s" in header


def test_speedup_falls_back_to_median_step_time(tmp_path: Path, capsys) -> None:
    # no samples/s in either report: 0.5 s per step for full, 0.2 s for lora -> 2.5x; ia3 has neither figure
    runs = {"full": make_report("full", value=0.9, trainable=MINILM_TOTAL, train_seconds=500.0, samples=None,
                                step_seconds_median=0.5),
            "lora": make_report("lora", value=0.88, trainable=147_456, train_seconds=90.0, samples=None,
                                step_seconds_median=0.2),
            "ia3": make_report("ia3", value=0.8, trainable=20_000, train_seconds=50.0, samples=None,
                               step_seconds_median=None)}
    (group,), _ = compare_json(write_runs(tmp_path, runs), capsys)
    values = by_method(group)
    assert values["lora"]["speedup_vs_full"] == pytest.approx(2.5)
    assert values["ia3"]["speedup_vs_full"] is None  # not 10x from 500 / 50 total seconds
    assert "speed-up of lora from median step time (no samples/s in its report or the baseline's); " \
           "it assumes the same batch size" in group["notes"]
    assert "speed-up n/a for ia3: neither samples/s nor median step time in both its report and the " \
           "baseline's" in group["notes"]


def tinybert(entry: str, method: str, accuracy: float, trainable: int, **labels: str) -> dict[str, Any]:
    """A report as recipes/imdb_tinybert writes it: labels recipe, entry, smoke (+ any given)."""
    return make_report(method, model_name="prajjwal1/bert-tiny", value=accuracy, trainable=trainable,
                       total=4_386_178, train_seconds=100.0, run_name=entry,
                       labels={"recipe": "imdb_tinybert", "entry": entry, "smoke": "false", **labels})


def test_tinybert_splits_are_ranked_apart_each_with_its_own_full(tmp_path: Path, capsys) -> None:
    runs = {"full": tinybert("full", "full", 0.80, 4_386_178), "bitfit": tinybert("bitfit", "bitfit", 0.70, 3_000),
            "full-30_70": tinybert("full-30_70", "full", 0.75, 4_386_178),
            "bitfit-30_70": tinybert("bitfit-30_70", "bitfit", 0.72, 3_000)}
    folders = write_runs(tmp_path, runs)
    groups, _ = compare_json(folders, capsys)
    assert [(g["title"], [r["method"] for r in g["runs"]]) for g in groups] == [
        ("imdb · prajjwal1/bert-tiny", ["full", "bitfit"]),
        ("imdb · prajjwal1/bert-tiny · setting=30_70", ["full", "bitfit"])]
    assert [Path(g["baseline"]).parent.name for g in groups] == ["full", "full-30_70"]
    # deltas against the group's own full run: 0.70 - 0.80 and 0.72 - 0.75
    assert [by_method(g)["bitfit"]["quality_delta_vs_full"] for g in groups] == [pytest.approx(-0.10), pytest.approx(-0.03)]
    assert not any("full fine-tuning runs" in note for g in groups for note in g["notes"])
    assert groups[1]["setting"] == {"recipe": "imdb_tinybert", "setting": "30_70", "smoke": "false"}


def test_a_split_label_and_the_entry_name_agree(tmp_path: Path, capsys) -> None:
    # `--method bitfit --split 30/70` (entry bitfit, label split) ranks with entry full-30_70 (same split)
    runs = {"full-30_70": tinybert("full-30_70", "full", 0.75, 4_386_178, split="30/70"),
            "bitfit": tinybert("bitfit", "bitfit", 0.72, 3_000, split="30/70"),
            "full-90": tinybert("full", "full", 0.80, 4_386_178, split="90/10")}
    groups, _ = compare_json(write_runs(tmp_path, runs), capsys)
    assert [(g["title"], [r["method"] for r in g["runs"]]) for g in groups] == [
        ("imdb · prajjwal1/bert-tiny · split=30/70", ["full", "bitfit"]),
        ("imdb · prajjwal1/bert-tiny · split=90/10", ["full"])]


def test_method_variants_share_one_group_and_one_baseline(tmp_path: Path, capsys) -> None:
    # lora-tuned (lr 3e-4, another seed) is a variant of the method: ranked with lora and full, not apart;
    # lora-30_70 is another split: apart, with no full run of its own
    runs = {"full": tinybert("full", "full", 0.80, 4_386_178, seed="1"),
            "lora": tinybert("lora", "lora", 0.70, 9_000, seed="1"),
            "lora-tuned": tinybert("lora-tuned", "lora", 0.78, 9_000, seed="2", learning_rate="3e-4"),
            "lora-30_70": tinybert("lora-30_70", "lora", 0.60, 9_000, seed="1")}
    first, second = compare_json(write_runs(tmp_path, runs), capsys)[0]
    assert [r["method"] for r in first["runs"]] == ["full", "lora (lora-tuned)", "lora (lora)"]
    assert by_method(first)["lora (lora-tuned)"]["quality_delta_vs_full"] == pytest.approx(-0.02)
    assert ([r["method"] for r in second["runs"]], second["baseline"]) == (["lora"], None)


def test_smoke_runs_are_not_ranked_with_real_runs(tmp_path: Path, capsys) -> None:
    runs = {"real": tinybert("full", "full", 0.80, 4_386_178), "smoke": tinybert("full", "full", 0.50, 4_386_178, smoke="true")}
    groups, _ = compare_json(write_runs(tmp_path, runs), capsys)
    assert [g["title"] for g in groups] == ["imdb · prajjwal1/bert-tiny · smoke=false", "imdb · prajjwal1/bert-tiny · smoke=true"]


def test_demo_base_and_lora_stay_together_apart_from_real_runs(tmp_path: Path, capsys) -> None:
    # the demo labels its LoRA run with sft_data (what it was fine-tuned on); the base model has none
    base = make_report("base", task="bibleqa", model_name="smoke-gpt2", metric="bibleqa/lenient_acc", value=0.1,
                       trainable=0, train_seconds=None, labels={"demo": "bibleqa", "smoke": "true"})
    lora = make_report("lora", task="bibleqa", model_name="smoke-gpt2", metric="bibleqa/lenient_acc", value=0.2,
                       trainable=8_192, train_seconds=9.0,
                       labels={"demo": "bibleqa", "smoke": "true", "sft_data": "ASV Matthew"})
    real = make_report("lora", task="bibleqa", model_name="smoke-gpt2", metric="bibleqa/lenient_acc", value=0.3,
                       trainable=8_192, train_seconds=9.0,
                       labels={"demo": "bibleqa", "smoke": "false", "sft_data": "ASV Matthew"})
    folders = [write_run(tmp_path, "base", base), write_run(tmp_path, "lora", lora), write_run(tmp_path, "real", real)]
    groups, _ = compare_json(folders, capsys)
    assert [(g["title"], [r["method"] for r in g["runs"]]) for g in groups] == [
        ("bibleqa · smoke-gpt2 · smoke=true", ["lora", "base"]), ("bibleqa · smoke-gpt2 · smoke=false", ["lora"])]


@pytest.mark.parametrize("entry, expected", [
    ("full", None), ("lora-tuned", None), ("full-30_70", "30_70"), ("embeddings_only-30_70", "30_70"),
    ("lora-r16-lr0.0003", None), ("prompt-tuned-30_70", "30_70"),
])
def test_entry_names_split_into_method_and_setting(entry: str, expected: str | None) -> None:
    assert entry_setting(entry) == expected


def test_setting_keeps_data_labels_and_drops_method_labels() -> None:
    labels = {"recipe": "imdb_tinybert", "entry": "lora-tuned", "smoke": "false", "split": "30/70", "seed": "3",
              "learning_rate": "3e-4", "method_r": "16", "variant": "tuned"}
    assert setting_of(labels) == (("recipe", "imdb_tinybert"), ("smoke", "false"), ("split", "30/70"))


def test_plot_files_of_two_settings_do_not_overwrite_each_other(tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib")
    runs = {"full": tinybert("full", "full", 0.80, 4_386_178), "full-30_70": tinybert("full-30_70", "full", 0.75, 4_386_178)}
    assert compare_main([*map(str, write_runs(tmp_path / "runs", runs)), "--plot", str(tmp_path / "p.png"), "--quiet"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "p-imdb-prajjwal1-bert-tiny-30-70-bars.png", "p-imdb-prajjwal1-bert-tiny-30-70.png",
        "p-imdb-prajjwal1-bert-tiny-bars.png", "p-imdb-prajjwal1-bert-tiny.png"]
