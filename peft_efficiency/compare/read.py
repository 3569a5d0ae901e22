"""Read one report file for the comparison, refusing anything that is not a usable run report with one clear line.

`peft_efficiency.report.load_report` refuses binary files, text in another encoding and a `schema_version` of the
wrong type; here reports of the wrong shape (a section that is not an object, labels that are not text) are
refused too, instead of turning into an all-n/a row.

Example:
    try:
        report = read_report(Path("runs/lora/efficiency_report.json"))
    except ReportError as exc:
        print(f"skipped {exc}", file=sys.stderr)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peft_efficiency.report import REQUIRED_SECTIONS, ReportError, json_type_name, load_report


def check_shape(path: Path, report: dict[str, Any]) -> None:
    """Refuse a report whose sections are not objects, that has none of them, or whose run labels are not text."""
    for name in REQUIRED_SECTIONS:
        if name in report and not isinstance(report[name], dict):
            raise ReportError(f"{path}: section '{name}' is {json_type_name(report[name])}, expected an object; "
                                 "the file does not follow the run report schema")
    if not any(name in report for name in REQUIRED_SECTIONS):
        raise ReportError(f"{path}: none of the report sections ({', '.join(REQUIRED_SECTIONS)}); "
                             "this is not a run report of this schema")
    labels = report.get("run", {}).get("labels")
    if labels is not None and not isinstance(labels, dict):
        raise ReportError(f"{path}: run.labels is {json_type_name(labels)}, expected an object of text labels")
    for key, value in (labels or {}).items():
        if isinstance(value, (dict, list)):
            raise ReportError(f"{path}: run.labels.{key} is {json_type_name(value)}, expected text")


def read_report(path: Path) -> dict[str, Any]:
    """The report in `path` as a dict; `ReportError` (message naming `path`) when it cannot be compared."""
    report = load_report(path)
    check_shape(path, report)
    return report
