"""`evaluate()` / `predict()` outside `train()`: add the quality figures to the folder's report, never degrade it.

A later process that only evaluates (a finished run's folder, or a fresh one) adds its metrics and evaluation time
to the report; a `completed` report keeps its status and every training figure. A folder with no report gets
one whose status is `evaluated` (no training in it).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from peft_efficiency.callbacks.session import add_quality, empty_quality, utc_now, write_quietly
from peft_efficiency.report import REPORT_FILENAME, REPORT_SCHEMA_VERSION, ReportError, load_report

logger = logging.getLogger("peft_efficiency")
NOT_TRAINED = "no training in this folder: only evaluate()/predict() ran"


def runtime_seconds(metrics: dict[str, Any]) -> float:
    value = next((v for k, v in metrics.items() if k.endswith("_runtime") and isinstance(v, (int, float))), 0.0)
    return float(value)


def merge_evaluation(report: dict[str, Any], state: Any, metrics: dict[str, Any]) -> None:
    """Add one evaluation made outside train() to `report` (in place)."""
    quality = report.setdefault("quality", empty_quality())
    add_quality(quality, state, metrics, source="evaluate")
    time = report.setdefault("time", {})
    time["evaluations_after_training"] = int(time.get("evaluations_after_training") or 0) + 1
    time["eval_seconds_after_training"] = float(time.get("eval_seconds_after_training") or 0.0) + runtime_seconds(metrics)


def new_evaluation_report(args: Any, state: Any, labels: dict[str, Any], params: dict[str, Any],
                          environment: dict[str, Any]) -> dict[str, Any]:
    """The report of a folder where no training ran: status `evaluated`, training figures null with the reason."""
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "run": {"status": "evaluated", "error": None, "started_at": utc_now(), "ended_at": utc_now(),
                "output_dir": str(args.output_dir), "global_step": state.global_step, **labels},
        "params": params,
        "time": {"train_seconds": None, "unavailable": {"train_seconds": NOT_TRAINED}},
        "memory": {"unavailable": {"peak_memory_bytes": NOT_TRAINED}},
        "energy": {"status": "unavailable", "reason": NOT_TRAINED, "energy_kwh": None, "co2_kg": None},
        "flops": {"flops": None, "unavailable": {"flops": NOT_TRAINED}},
        "quality": empty_quality(),
        "environment": environment,
    }


def record_evaluation_in_folder(args: Any, state: Any, metrics: dict[str, Any], describe: Any) -> None:
    """Main process only: merge into `<output_dir>/efficiency_report.json`, or create an `evaluated` one.

    `describe()` returns (labels, params section, environment section) for a new report; called only if needed.
    A report that exists but cannot be read is left untouched (warned), never overwritten.
    """
    if not state.is_world_process_zero:
        return
    path = Path(args.output_dir) / REPORT_FILENAME
    if path.exists():
        try:
            report = load_report(path)
        except ReportError as exc:
            logger.warning("peft-efficiency: evaluation metrics not added to the report: %s", exc)
            return
    else:
        report = new_evaluation_report(args, state, *describe())
    merge_evaluation(report, state, metrics)
    write_quietly(path, report, already_warned=False)
