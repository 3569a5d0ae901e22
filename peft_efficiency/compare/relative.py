"""Columns relative to the group's full fine-tuning run: speed-up, memory saved, quality delta.

Speed-up compares speed, not schedule: it is the run's training throughput over the baseline's (samples/s),
falling back to the ratio of median optimizer-step times when either report lacks samples/s. Total train time
is not used: a run that trains 3 epochs against full's 5, or half the samples, is not faster for it.

Memory saved compares what training holds. On GPU it is the CUDA peak allocated. Where only process RSS was
measured (CPU), the peak is dominated by the Python/torch runtime (a 1.6 GiB process holding 94 MB of training
state), so it uses the training state (weights + gradients + optimizer state) when both reports have one, and a
note says so; a version-1 report has none, and then the RSS peak is used as before.

Example:
    relative_values(lora_row, full_row, quality=lambda r: r.quality.get("eval_accuracy"), notes=[])
    # {"speedup_vs_full": 1.4, "memory_saved_vs_full_percent": 50.0, "quality_delta_vs_full": -0.02}
"""

from __future__ import annotations

from typing import Callable

from peft_efficiency.compare.load import RunRow


def relative_columns(metric: str | None) -> list[tuple[str, str, str]]:
    """(key, title, kind) of the relative columns."""
    columns = [("speedup_vs_full", "speed-up vs full", "ratio"),
               ("memory_saved_vs_full_percent", "memory saved vs full", "signed_percent")]
    if metric:
        columns.append(("quality_delta_vs_full", f"Δ {metric} vs full", "delta"))
    return columns


def speedup(row: RunRow, baseline: RunRow) -> tuple[float | None, str | None]:
    """(speed-up of `row` over `baseline`, the basis used: "samples/s", "median step time" or None)."""
    if row.samples_per_second and baseline.samples_per_second:
        return row.samples_per_second / baseline.samples_per_second, "samples/s"
    if row.step_seconds_median and baseline.step_seconds_median:
        return baseline.step_seconds_median / row.step_seconds_median, "median step time"
    return None, None


TRAINING_STATE_BASIS = ("memory saved vs full from the training state (weights + gradients + optimizer state): only "
                        "process RSS was measured, which the Python/torch runtime dominates")


def memory_saved(row: RunRow, baseline: RunRow) -> tuple[float | None, str | None]:
    """(1 - row / baseline in %, basis: "peak" or "training state" or None) of the memory training holds."""
    rss_only = "cuda_allocated" not in (row.peak_memory_kind, baseline.peak_memory_kind)
    if rss_only and row.training_state_bytes is not None and baseline.training_state_bytes:
        return 100.0 * (1.0 - row.training_state_bytes / baseline.training_state_bytes), "training state"
    if row.peak_memory_bytes is not None and baseline.peak_memory_bytes:
        return 100.0 * (1.0 - row.peak_memory_bytes / baseline.peak_memory_bytes), "peak"
    return None, None


def relative_values(row: RunRow, baseline: RunRow, quality: Callable[[RunRow], float | None],
                    notes: list[str]) -> dict[str, float | None]:
    """The relative figures of `row`; a note is added when its speed-up had to fall back or is missing."""
    ratio, basis = speedup(row, baseline)
    if basis == "median step time":
        notes.append(f"speed-up of {row.label} from median step time (no samples/s in its report or the "
                     "baseline's); it assumes the same batch size")
    elif basis is None and row is not baseline:
        notes.append(f"speed-up n/a for {row.label}: neither samples/s nor median step time in both its report "
                     "and the baseline's")
    saved, _ = memory_saved(row, baseline)
    values: dict[str, float | None] = {"speedup_vs_full": ratio, "memory_saved_vs_full_percent": saved}
    q, q_full = quality(row), quality(baseline)
    values["quality_delta_vs_full"] = None if q is None or q_full is None else q - q_full
    return values
