"""Read run reports into flat `RunRow`s; a report that cannot be used becomes a `Problem` naming its file.

Example:
    rows, problems = load_runs(["runs/full", "runs/lora"])
    for problem in problems:
        print(problem.message, file=sys.stderr)
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peft_efficiency.compare.identity import Setting, assign_labels, setting_of
from peft_efficiency.compare.liveness import judge
from peft_efficiency.compare.read import read_report
from peft_efficiency.report import REPORT_FILENAME, ReportError, missing_sections, report_path, stage_files


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
    status: str | None  # the report's, or `stale` / `lost` for a running report whose run is gone (see liveness)
    run_name: str | None = None
    status_reason: str | None = None  # why a running report is shown as stale or lost
    labels: dict[str, Any] = field(default_factory=dict)
    setting: Setting = ()
    primary_metric: str | None = None
    greater_is_better: bool | None = None
    quality: dict[str, float] = field(default_factory=dict)
    train_seconds: float | None = None
    samples: float | None = None
    samples_per_second: float | None = None
    step_seconds_median: float | None = None
    generation_seconds: float | None = None  # the generation phase of RL trainers (GRPO, PPO...), apart from training
    generation_share: float | None = None  # its fraction of the wall time
    trainable_params: int | None = None
    total_params: int | None = None
    trainable_percent: float | None = None
    peak_memory_bytes: int | None = None
    peak_memory_kind: str | None = None
    weights_bytes: int | None = None  # training state (schema version 2; None in a version-1 report)
    gradients_bytes: int | None = None
    optimizer_state_bytes: int | None = None
    training_state_bytes: int | None = None
    activation_peak_bytes: int | None = None
    schema_version: int | None = None
    energy_kwh: float | None = None
    co2_kg: float | None = None
    energy_status: str | None = None
    energy_reason: str | None = None
    overhead_seconds: float | None = None
    overhead_share: float | None = None
    label: str = ""
    repeats: Any = None  # a `repeats.Repeats` when this row merges runs that differ only in seed

    @property
    def n(self) -> int:
        """How many runs this row's figures are the mean of (1 for a single run)."""
        return 1 if self.repeats is None else len(self.repeats.members)

    @property
    def group(self) -> tuple[str, str, Setting]:
        """Runs are only compared inside one (task, model, setting) group; see `identity.py` for the setting."""
        return (self.task or "unknown task", self.model_name or "unknown model", self.setting)

    @property
    def primary_value(self) -> float | None:
        """The value of this run's primary quality metric, if it has one."""
        return metric_value(self.quality, self.primary_metric) if self.primary_metric else None


def metric_value(metrics: dict[str, Any], name: str) -> float | None:
    """`metrics[name]`, also found as `eval_<name>` or with the `eval_` prefix dropped; `None` when absent.
    NaN and infinity are returned as they are (a diverged run); use `finite` to drop them."""
    candidates = [name, f"eval_{name}", name.removeprefix("eval_")]
    for key in candidates:
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def finite(value: Any) -> float | None:
    """`value` as a float when it is a finite number (not bool, NaN or infinity), else `None`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


class _Fields:
    """Typed reads of one report's fields; every value of the wrong type becomes `None` and a warning."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report
        self.warnings: list[str] = []

    def section(self, name: str) -> dict[str, Any]:
        value = self.report.get(name)
        return value if isinstance(value, dict) else {}

    def number(self, name: str, key: str) -> float | None:
        value = self.section(name).get(key)
        if value is None:
            return None
        if finite(value) is None:
            shown = json.dumps(value) if isinstance(value, (int, float, str, bool)) else type(value).__name__
            self.warnings.append(f"{name}.{key} is {shown}, not a finite number; shown as n/a")
            return None
        return value

    def text(self, name: str, key: str) -> str | None:
        value = self.section(name).get(key)
        if value is None or isinstance(value, str):
            return value
        self.warnings.append(f"{name}.{key} is {type(value).__name__} {json.dumps(value)[:40]}, not text; ignored")
        return None

    def flag(self, name: str, key: str) -> bool | None:
        value = self.section(name).get(key)
        if value is None or isinstance(value, bool):
            return value
        self.warnings.append(f"{name}.{key} is {json.dumps(value)[:40]}, not true/false; ignored")
        return None

    def metrics(self) -> dict[str, float]:
        """quality.eval's numeric values; NaN and infinity kept (a diverged run) and warned about."""
        evals = self.section("quality").get("eval")
        if evals is not None and not isinstance(evals, dict):
            self.warnings.append(f"quality.eval is {type(evals).__name__}, not an object; no quality figures")
        result = {}
        for key, value in (evals if isinstance(evals, dict) else {}).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value):
                self.warnings.append(f"quality.eval.{key} is {json.dumps(value)}: the run diverged; "
                                     "ranked below every finite run and never on the Pareto frontier")
            result[key] = float(value)
        return result


def row_from_report(report: dict[str, Any], source: Path) -> tuple[RunRow, list[str]]:
    """Turn one loaded report into a row, and a list of warnings about what it lacks."""
    fields = _Fields(report)
    fields.warnings += [f"no '{name}' section; its columns are shown as n/a" for name in missing_sections(report)]
    method = fields.text("run", "method")
    if not method:
        fields.warnings.append("run.method is not set; shown as 'unknown'")
    status = fields.text("run", "status")
    liveness = judge({**fields.section("run"), "status": status})
    if liveness.reason:
        fields.warnings.append(f"run status is {status!r} but shown as {liveness.status!r}: {liveness.reason}")
        status = liveness.status
    elif status and status != "completed":
        fields.warnings.append(f"run status is {status!r}: its figures cover only part of the training")
    quality = fields.metrics()
    primary = fields.text("quality", "primary_metric")
    if quality and not primary:
        fields.warnings.append("quality.primary_metric is not set; pass --metric to choose the quality column")
    labels = fields.section("run").get("labels")
    labels = labels if isinstance(labels, dict) else {}
    row = RunRow(
        source=source,
        method=method or "unknown",
        task=fields.text("run", "task"),
        model_name=fields.text("run", "model_name"),
        status=status,
        status_reason=liveness.reason,
        run_name=fields.text("run", "run_name"),
        labels=dict(labels),
        setting=setting_of(labels),
        primary_metric=primary,
        greater_is_better=fields.flag("quality", "greater_is_better"),
        quality=quality,
        train_seconds=fields.number("time", "train_seconds"),
        samples=fields.number("time", "samples"),
        samples_per_second=fields.number("time", "samples_per_second"),
        step_seconds_median=fields.number("time", "step_seconds_median"),
        generation_seconds=fields.number("time", "generation_seconds"),
        generation_share=fields.number("time", "generation_share"),
        trainable_params=fields.number("params", "trainable"),
        total_params=fields.number("params", "total"),
        trainable_percent=fields.number("params", "trainable_percent"),
        peak_memory_bytes=fields.number("memory", "peak_memory_bytes"),
        peak_memory_kind=fields.text("memory", "peak_memory_kind"),
        weights_bytes=fields.number("memory", "weights_bytes"),
        gradients_bytes=fields.number("memory", "gradients_bytes"),
        optimizer_state_bytes=fields.number("memory", "optimizer_state_bytes"),
        training_state_bytes=fields.number("memory", "training_state_bytes"),
        activation_peak_bytes=fields.number("memory", "activation_peak_bytes"),
        schema_version=report.get("schema_version"),
        energy_kwh=fields.number("energy", "energy_kwh"),
        co2_kg=fields.number("energy", "co2_kg"),
        energy_status=fields.text("energy", "status"),
        energy_reason=fields.text("energy", "reason"),
        overhead_seconds=fields.number("overhead", "overhead_seconds"),
        overhead_share=fields.number("overhead", "overhead_share"),
    )
    if row.trainable_percent is None and row.trainable_params is not None and row.total_params:
        row.trainable_percent = 100.0 * row.trainable_params / row.total_params
    return row, fields.warnings


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
            report = read_report(path)
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
    (so `compare runs/` works like `compare runs/*/`); a folder with none anywhere stays, to be reported.
    A folder's earlier stages (`efficiency_report.stage-<n>.json`, see `report.keep_earlier_stage`) come with it;
    a report file given by name is read alone."""
    files: list[Path] = []
    for given in paths:
        path = report_path(given)
        if Path(given).is_dir():
            found = [path] if path.exists() else sorted(Path(given).rglob(REPORT_FILENAME))
            files += [f for report in found for f in (*stage_files(report), report)] or [path]
        else:
            files.append(path)
    return files
