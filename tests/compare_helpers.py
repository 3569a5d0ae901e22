"""Hand-built run reports (dicts following peft_efficiency/report_schema.json) for the comparison tests.

The IMDb group's numbers are chosen so the expected table is easy to work out by hand:

| method        | accuracy | train s | trainable  | peak GiB | energy kWh |
|---------------|---------:|--------:|-----------:|---------:|-----------:|
| full          | 0.90     | 400     | 22,713,602 | 2.0      | 0.010      |
| lora          | 0.88     | 160     |    147,456 | 1.0      | 0.004      |
| bitfit        | 0.87     | 250     |    200,000 | 1.2      | n/a        |
| ia3           | 0.85     | 200     |     20,000 | 1.5      | 0.005      |
| prompt_tuning | 0.70     | 180     |     15,360 | 1.1      | 0.0045     |

Frontier of accuracy vs trainable params: everything except bitfit (lora has fewer params and more accuracy).
Frontier vs train time: lora and full. Frontier vs energy: lora and full.

Every run sees the same 3,200 samples in 200 steps unless told otherwise, so samples/s = 3200 / train s and the
median step time = train s / 200: speed-up vs full is then also 400 / train s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_DERIVED = object()  # "work it out from samples, steps and train_seconds"

from peft_efficiency.report import REPORT_FILENAME, REPORT_SCHEMA_VERSION

GIB = 1024**3
MINILM_TOTAL = 22_713_602


def make_report(
    method: str,
    *,
    task: str = "imdb",
    model_name: str = "all-MiniLM-L6-v2",
    metric: str = "eval_accuracy",
    value: float | None = None,
    trainable: int | None = None,
    total: int = MINILM_TOTAL,
    train_seconds: float | None = None,
    peak_memory_bytes: int | None = None,
    energy_kwh: float | None = None,
    co2_kg: float | None = None,
    status: str = "completed",
    greater_is_better: bool | None = True,
    samples: int | None = 3200,
    steps: int = 200,
    samples_per_second: Any = _DERIVED,
    step_seconds_median: Any = _DERIVED,
    labels: dict[str, Any] | None = None,
    run_name: str | None = None,
) -> dict[str, Any]:
    """A complete report; `None` figures are written as null with an `unavailable` reason, as the writer does.
    samples/s and the median step time follow from `samples`, `steps` and `train_seconds` unless given."""
    measured = energy_kwh is not None
    timed = train_seconds is not None and train_seconds > 0
    if samples_per_second is _DERIVED:
        samples_per_second = samples / train_seconds if timed and samples else None
    if step_seconds_median is _DERIVED:
        step_seconds_median = train_seconds / steps if timed else None
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "run": {"status": status, "method": method, "task": task, "model_name": model_name,
                "run_name": method if run_name is None else run_name,
                "labels": dict(labels or {}), "world_size": 1, "global_step": steps, "epoch": 1.0},
        "params": {"trainable": trainable, "total": total,
                   "trainable_percent": None if trainable is None else 100.0 * trainable / total},
        "time": {"train_seconds": train_seconds, "samples": samples, "steps": steps,
                 "samples_per_second": samples_per_second, "step_seconds_median": step_seconds_median,
                 "unavailable": {} if train_seconds is not None else {"train_seconds": "not trained"}},
        "memory": {"peak_memory_bytes": peak_memory_bytes, "peak_memory_kind": "process_rss"},
        "energy": {"status": "measured" if measured else "unavailable",
                   "reason": None if measured else "no RAPL counter readable and no TDP for this CPU",
                   "energy_kwh": energy_kwh, "co2_kg": co2_kg},
        "flops": {"flops": None},
        "quality": {"primary_metric": metric, "greater_is_better": greater_is_better,
                    "eval": {} if value is None else {"eval_loss": 0.3, metric: value}},
        "environment": {"python": "3.11", "device": "cpu"},
    }


IMDB_RUNS: dict[str, dict[str, Any]] = {
    "full": make_report("full", value=0.90, trainable=MINILM_TOTAL, train_seconds=400.0, peak_memory_bytes=2 * GIB,
                        energy_kwh=0.010, co2_kg=0.004),
    "lora": make_report("lora", value=0.88, trainable=147_456, total=MINILM_TOTAL + 147_456, train_seconds=160.0,
                        peak_memory_bytes=1 * GIB, energy_kwh=0.004, co2_kg=0.0016),
    "bitfit": make_report("bitfit", value=0.87, trainable=200_000, train_seconds=250.0,
                          peak_memory_bytes=int(1.2 * GIB), energy_kwh=None),
    "ia3": make_report("ia3", value=0.85, trainable=20_000, total=MINILM_TOTAL + 20_000, train_seconds=200.0,
                       peak_memory_bytes=int(1.5 * GIB), energy_kwh=0.005, co2_kg=0.002),
    "prompt_tuning": make_report("prompt_tuning", value=0.70, trainable=15_360, total=MINILM_TOTAL + 15_360,
                                 train_seconds=180.0, peak_memory_bytes=int(1.1 * GIB), energy_kwh=0.0045, co2_kg=0.0018),
}

BIBLEQA_RUNS: dict[str, dict[str, Any]] = {
    "base": make_report("base", task="bibleqa", model_name="SmolLM2-135M-Instruct", metric="bibleqa/lenient",
                        value=0.10, trainable=0, total=134_515_008, train_seconds=None, peak_memory_bytes=None),
    "lora-asv": make_report("lora", task="bibleqa", model_name="SmolLM2-135M-Instruct", metric="bibleqa/lenient",
                            value=0.15, trainable=1_843_200, total=134_515_008 + 1_843_200, train_seconds=90.0,
                            peak_memory_bytes=3 * GIB, energy_kwh=0.002, co2_kg=0.0008),
}


def write_run(root: Path, name: str, report: dict[str, Any] | str) -> Path:
    """Write `report` (a dict, or raw text for broken files) as `<root>/<name>/efficiency_report.json`."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    text = report if isinstance(report, str) else json.dumps(report)
    (folder / REPORT_FILENAME).write_text(text, encoding="utf-8")
    return folder


def write_runs(root: Path, runs: dict[str, dict[str, Any]]) -> list[Path]:
    return [write_run(root, name, report) for name, report in runs.items()]
