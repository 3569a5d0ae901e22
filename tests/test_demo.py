"""The demo's smoke mode end to end: the IMDb recipe (two methods, own processes), LoRA SFT + lm-eval BibleQA on a
tiny GPT-2, and the comparison table, plots and HTML report.

Trainable-parameter counts are worked out by hand for the smoke models (hidden 32, 2 layers; see
peft_efficiency/recipe_kit/smoke.py):
- IMDb lora-tuned (r 16 on query, key, value of a RoBERTa): 2 layers x 3 x 16 x (32 + 32) = 6,144, plus the
  classification head peft trains in full: dense 32 x 32 + 32 and out_proj 32 x 2 + 2 = 1,122 -> 7,266.
- BibleQA LoRA (r 8, all linear layers of a GPT-2 but lm_head): per layer c_attn 8 x (32 + 96) + attn.c_proj
  8 x (32 + 32) + c_fc 8 x (32 + 128) + mlp.c_proj 8 x (128 + 32) = 4,096 -> 8,192 for 2 layers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("lm_eval")
pytest.importorskip("matplotlib")

from peft_efficiency.compare.render import format_bytes  # noqa: E402
from peft_efficiency.demo.cli import main as demo_main  # noqa: E402
from peft_efficiency.demo.settings import DemoSettings  # noqa: E402
from peft_efficiency.report import load_report  # noqa: E402


@pytest.mark.slow
def test_demo_smoke_end_to_end(tmp_path: Path, data_dir: Path, capsys) -> None:
    code = demo_main(["--smoke", "--output-dir", str(tmp_path), "--data-dir", str(data_dir),
                      "--imdb-methods", "full,lora-tuned", "--imdb-repeat-methods", "lora-tuned"])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    # visible progress, one line per announced step (full, lora seed 1, lora seed 2, 4 BibleQA steps, compare)
    for step in range(1, 9):
        assert f"| {step}/8]" in out
    assert "IMDb · lora-tuned seed 2:" in out
    assert f"[demo] HTML report:  {tmp_path / 'report' / 'report.html'}" in out

    full = load_report(tmp_path / "runs" / "imdb" / "full")
    lora = load_report(tmp_path / "runs" / "imdb" / "lora-tuned" / "seed-1")
    lora_2 = load_report(tmp_path / "runs" / "imdb" / "lora-tuned" / "seed-2")
    assert (lora["run"]["labels"]["seed"], lora_2["run"]["labels"]["seed"]) == ("1", "2")
    assert "seed" not in full["run"]["labels"]
    assert (full["run"]["method"], lora["run"]["method"]) == ("full", "lora")
    assert full["params"]["trainable"] == full["params"]["total"]
    assert lora["params"]["trainable"] == 7_266
    # the adapter is added, and peft keeps the original head beside its trainable copy
    assert lora["params"]["total"] == full["params"]["total"] + 6_144 + 1_122
    assert lora["time"]["steps"] == DemoSettings.smoke_preset().imdb_steps
    # training state (float32, AdamW): the adapter's 12 LoRA tensors and the head's 4 train, 7,266 elements
    memory = lora["memory"]
    assert memory["weights_bytes"] == 4 * lora["params"]["total"]
    assert memory["gradients_bytes"] == 4 * 7_266
    assert memory["optimizer_state_bytes"] == 2 * 4 * 7_266 + 4 * 16  # exp_avg, exp_avg_sq and a 4-byte step each
    assert full["memory"]["gradients_bytes"] == full["memory"]["weights_bytes"] == 4 * full["params"]["total"]

    base = load_report(tmp_path / "runs" / "bibleqa" / "base")
    sft = load_report(tmp_path / "runs" / "bibleqa" / "lora")
    assert base["params"]["trainable"] == 0 and base["time"]["train_seconds"] is None
    assert sft["params"]["trainable"] == 8_192
    assert sft["params"]["total"] == base["params"]["total"] + 8_192
    assert sft["run"]["status"] == "completed" and sft["time"]["steps"] == DemoSettings.smoke_preset().sft_steps
    for report in (base, sft):
        assert report["quality"]["primary_metric"] == "bibleqa/lenient_acc"
        assert report["quality"]["eval"]["bibleqa/questions"] == 3
        assert 0.0 <= report["quality"]["eval"]["bibleqa/lenient_acc"] <= 1.0

    groups = json.loads((tmp_path / "report" / "comparison.json").read_text())["groups"]
    assert [(g["task"], sorted(r["method"] for r in g["runs"])) for g in groups] == [
        ("imdb", ["full", "lora"]), ("bibleqa", ["base", "lora"])]
    assert groups[1]["baseline"] is None  # no full run for BibleQA: no relative columns
    # on CPU, memory saved vs full is worked out from the training state, and the table and closing note say so
    runs = {r["method"]: r for r in groups[0]["runs"]}
    # the two LoRA seeds are one row: n 2, their mean train time with its Student-t interval (t 0.975, 1 df = 12.706)
    assert (runs["lora"]["n"], runs["lora"]["seeds"], runs["full"]["n"]) == (2, ["1", "2"], 1)
    seconds = [lora["time"]["train_seconds"], lora_2["time"]["train_seconds"]]
    half = 12.706 * abs(seconds[0] - seconds[1]) / 2**0.5 / 2**0.5  # t * sd / sqrt(n); sd of two = |a - b| / sqrt 2
    assert runs["lora"]["train_seconds"] == pytest.approx(sum(seconds) / 2)
    assert runs["lora"]["train_seconds_ci_high"] == pytest.approx(sum(seconds) / 2 + half, rel=1e-3)
    saved = 100 * (1 - lora["memory"]["training_state_bytes"] / full["memory"]["training_state_bytes"])
    assert runs["lora"]["memory_saved_vs_full_percent"] == pytest.approx(saved)
    assert any(note.startswith("memory saved vs full from the training state") for note in groups[0]["notes"])
    shown = format_bytes(lora["memory"]["training_state_bytes"])
    assert f"lora {shown} ({saved:+.0f}% saved, from the training state)" in out
    written = {p.name for p in (tmp_path / "report").iterdir()}
    assert {"report.html", "comparison.md", "pareto-imdb-smoke-tiny-roberta-base.png", "pareto-bibleqa-smoke-gpt2.svg",
            "pareto-bibleqa-smoke-gpt2-bars.png"} <= written


def test_demo_rejects_bad_sizes(tmp_path: Path, capsys) -> None:
    assert demo_main(["--smoke", "--output-dir", str(tmp_path), "--imdb-steps", "0"]) == 2
    assert "demo sizes must be at least 1" in capsys.readouterr().err
