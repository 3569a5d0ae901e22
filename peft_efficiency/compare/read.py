"""Read one report file for the comparison, refusing anything that is not a usable run report with one clear line.

Stricter than `peft_efficiency.report.load_report`: binary files, text in another encoding, a `schema_version`
of the wrong type and reports of the wrong shape (a section that is not an object, labels that are not text)
are refused here with the reason, instead of raising a traceback or turning into an all-n/a row.
NaN and Infinity, which the callback writes for a diverged metric, are accepted.

Example:
    try:
        report = read_report(Path("runs/lora/efficiency_report.json"))
    except UnusableReport as exc:
        print(f"skipped {exc}", file=sys.stderr)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from peft_efficiency.report import READABLE_SCHEMA_VERSIONS, REPORT_FILENAME, REPORT_SCHEMA_VERSION, REQUIRED_SECTIONS

BINARY_PROBE_BYTES = 8192
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class UnusableReport(ValueError):
    """A file the comparison cannot use; the message starts with the path and ends with what to do."""


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def decode_text(path: Path, data: bytes) -> str:
    """The file's text, or `UnusableReport` saying it is binary or not UTF-8."""
    if data.startswith(UTF16_BOMS):
        raise UnusableReport(f"{path}: UTF-16 text; run reports are UTF-8 JSON, re-save the file as UTF-8")
    if b"\x00" in data[:BINARY_PROBE_BYTES]:
        raise UnusableReport(f"{path}: a binary file, not a JSON run report; pass the run folder or its {REPORT_FILENAME}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = data[exc.start]
        raise UnusableReport(f"{path}: not UTF-8 text (byte 0x{bad:02x} at offset {exc.start}); "
                             "run reports are UTF-8 JSON, re-save the file as UTF-8") from None


def check_version(path: Path, version: Any) -> None:
    """Refuse a missing, wrongly typed, older or newer `schema_version` (versions 1 and 2 are read)."""
    readable = " or ".join(map(str, READABLE_SCHEMA_VERSIONS))
    if version is None:
        raise UnusableReport(f"{path}: no 'schema_version' field; this is not a peft-efficiency run report")
    if isinstance(version, bool) or not isinstance(version, (int, float)) or not math.isfinite(version):
        raise UnusableReport(f"{path}: schema_version is {_type_name(version)} ({json.dumps(version)}), expected the "
                             f"number {readable}; the file was edited by hand or written by another tool")
    if version > REPORT_SCHEMA_VERSION:
        raise UnusableReport(f"{path}: schema_version {version!r} is newer than the versions this peft-efficiency reads "
                             f"({readable}); upgrade peft-efficiency")
    if version not in READABLE_SCHEMA_VERSIONS:
        raise UnusableReport(f"{path}: schema_version {version!r} is older than the versions this peft-efficiency reads "
                             f"({readable}); re-run with this version")


def check_shape(path: Path, report: dict[str, Any]) -> None:
    """Refuse a report whose sections are not objects, that has none of them, or whose run labels are not text."""
    for name in REQUIRED_SECTIONS:
        if name in report and not isinstance(report[name], dict):
            raise UnusableReport(f"{path}: section '{name}' is {_type_name(report[name])}, expected an object; "
                                 "the file does not follow the run report schema")
    if not any(name in report for name in REQUIRED_SECTIONS):
        raise UnusableReport(f"{path}: none of the report sections ({', '.join(REQUIRED_SECTIONS)}); "
                             "this is not a run report of this schema")
    labels = report.get("run", {}).get("labels")
    if labels is not None and not isinstance(labels, dict):
        raise UnusableReport(f"{path}: run.labels is {_type_name(labels)}, expected an object of text labels")
    for key, value in (labels or {}).items():
        if isinstance(value, (dict, list)):
            raise UnusableReport(f"{path}: run.labels.{key} is {_type_name(value)}, expected text")


def read_report(path: Path) -> dict[str, Any]:
    """The report in `path` as a dict; `UnusableReport` (message naming `path`) when it cannot be compared."""
    if not path.exists():
        raise UnusableReport(f"{path}: no run report here (expected {REPORT_FILENAME}; was the run made with EfficiencyCallback?)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnusableReport(f"{path}: cannot read it ({exc.strerror or exc}); check the path and its permissions") from None
    text = decode_text(path, data)
    if not text.strip():
        raise UnusableReport(f"{path}: the file is empty; the run may have been killed before its report was written")
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnusableReport(f"{path}: not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); "
                             "the file is corrupted or truncated") from None
    except RecursionError:
        raise UnusableReport(f"{path}: JSON nested too deeply to be a run report") from None
    if not isinstance(report, dict):
        raise UnusableReport(f"{path}: a run report must be a JSON object, found {_type_name(report)}")
    check_version(path, report.get("schema_version"))
    check_shape(path, report)
    return report
