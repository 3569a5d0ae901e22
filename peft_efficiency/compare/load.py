"""Read run reports into flat `RunRow`s; a report that cannot be used becomes a `Problem` naming its file.

Example:
    rows, problems = load_runs(["runs/full", "runs/lora"])
    for problem in problems:
        print(problem.message, file=sys.stderr)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peft_efficiency.report import REPORT_FILENAME, ReportError, load_report, missing_sections, report_path


@dataclass
class Problem:
    """One input that was skipped (`skipped=True`) or read with a gap (a warning)."""

    path: Path
    message: str
    skipped: bool


@dataclass
class RunRow:
    """The figures of one run that the comparison shows. `None` means not measured (never 0)."""

    source: Path
    method: str
    task: str | None
    model_name: str | None
    status: str | None
    run_name: str | None = None
    primary_metric: str | None = None
    greater_is_better: bool | None = None
    quality: dict[str, float] = field(default_factory=dict)
    train_seconds: float | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    trainable_percent: float | None = None
    peak_memory_bytes: int | None = None
    peak_memory_kind: str | None = None
    energy_kwh: float | None = None
    co2_kg: float | None = None
    energy_status: str | None = None
    energy_reason: str | None = None
    label: str = ""

    @property
    def group(self) -> tuple[str, str]:
        """Runs are only compared inside one (task, model) group."""
        return (self.task or "unknown task", self.model_name or "unknown model")

    @property
    def primary_value(self) -> float | None:
        """The value of this run's primary quality metric, if it has one."""
        return metric_value(self.quality, self.primary_metric) if self.primary_metric else None


def metric_value(metrics: dict[str, Any], name: str) -> float | None:
    """`metrics[name]`, also found as `eval_<name>` or with the `eval_` prefix dropped; `None` when absent."""
    candidates = [name, f"eval_{name}", name.removeprefix("eval_")]
    for key in candidates:
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _number(section: dict[str, Any], key: str) -> float | None:
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def row_from_report(report: dict[str, Any], source: Path) -> tuple[RunRow, list[str]]:
    """Turn one loaded report into a row, and a list of warnings about what it lacks."""
    warnings = [f"no '{name}' section; its columns are shown as n/a" for name in missing_sections(report)]
    section = {name: report.get(name) if isinstance(report.get(name), dict) else {} for name in
               ("run", "params", "time", "memory", "energy", "quality")}
    run, params, time_, memory, energy, quality = (section[k] for k in section)
    method = run.get("method") or "unknown"
    if not run.get("method"):
        warnings.append("run.method is not set; shown as 'unknown'")
    status = run.get("status")
    if status and status != "completed":
        warnings.append(f"run status is {status!r}: its figures cover only part of the training")
    evals = quality.get("eval") if isinstance(quality.get("eval"), dict) else {}
    primary = quality.get("primary_metric")
    if evals and not primary:
        warnings.append("quality.primary_metric is not set; pass --metric to choose the quality column")
    energy_status = energy.get("status")
    row = RunRow(
        source=source,
        method=str(method),
        task=run.get("task"),
        model_name=run.get("model_name"),
        status=status,
        run_name=run.get("run_name"),
        primary_metric=primary,
        greater_is_better=quality.get("greater_is_better"),
        quality={k: float(v) for k, v in evals.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
        train_seconds=_number(time_, "train_seconds"),
        trainable_params=_number(params, "trainable"),
        total_params=_number(params, "total"),
        trainable_percent=_number(params, "trainable_percent"),
        peak_memory_bytes=_number(memory, "peak_memory_bytes"),
        peak_memory_kind=memory.get("peak_memory_kind"),
        energy_kwh=_number(energy, "energy_kwh"),
        co2_kg=_number(energy, "co2_kg"),
        energy_status=energy_status,
        energy_reason=energy.get("reason"),
    )
    if row.trainable_percent is None and row.trainable_params is not None and row.total_params:
        row.trainable_percent = 100.0 * row.trainable_params / row.total_params
    return row, warnings


def load_runs(paths: list[str | os.PathLike[str]]) -> tuple[list[RunRow], list[Problem]]:
    """Load every run folder or report file; unusable ones are skipped and reported, never fatal.

    Args:
        paths: run folders (holding `efficiency_report.json`), report files, or folders of run folders.

    Returns:
        The rows read (labels made unique inside each group) and the problems met, each naming its file.
    """
    rows: list[RunRow] = []
    problems: list[Problem] = []
    seen: set[Path] = set()
    for path in expand_inputs(paths):
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        try:
            report = load_report(path)
        except ReportError as exc:
            problems.append(Problem(path, f"skipped {exc}", skipped=True))
            continue
        row, warnings = row_from_report(report, path)
        problems += [Problem(path, f"warning {path}: {text}", skipped=False) for text in warnings]
        rows.append(row)
    assign_labels(rows)
    return rows, problems


def expand_inputs(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """Report files to read: a run folder's report, or, for a folder without one, every report below it
    (so `compare runs/` works like `compare runs/*/`); a folder with none anywhere stays, to be reported."""
    files: list[Path] = []
    for given in paths:
        path = report_path(given)
        nested = sorted(Path(given).rglob(REPORT_FILENAME)) if Path(given).is_dir() and not path.exists() else []
        files += nested or [path]
    return files


def assign_labels(rows: list[RunRow]) -> None:
    """Label each row by its method; where a method repeats inside a group, add the run name or folder."""
    counts: dict[tuple[tuple[str, str], str], int] = {}
    for row in rows:
        counts[(row.group, row.method)] = counts.get((row.group, row.method), 0) + 1
    for row in rows:
        if counts[(row.group, row.method)] == 1:
            row.label = row.method
        else:
            row.label = f"{row.method} ({row.run_name or row.source.parent.name})"
