"""The run report file `<output_dir>/efficiency_report.json`: schema version, atomic writing, checked reading.

The schema is documented as JSON Schema in `report_schema.json` next to this module; its `x-changelog` lists
what each version changed. Readers accept every version in `READABLE_SCHEMA_VERSIONS` (version 1 reports lack
the training-state figures, which then read as missing).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

REPORT_SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, 2)  # 2 added memory.weights_bytes ... training_state_bytes, activation_peak_bytes
REPORT_FILENAME = "efficiency_report.json"
REQUIRED_SECTIONS = ("run", "params", "time", "memory", "energy", "flops", "quality", "environment")
SCHEMA_PATH = Path(__file__).with_name("report_schema.json")


class ReportError(ValueError):
    """A run report that cannot be read: the message names the file and what is wrong with it."""


def write_report(path: str | os.PathLike[str], report: dict[str, Any]) -> Path:
    """Write `report` as JSON to `path` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # like any file the user's process creates (mkstemp gives 0600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2, sort_keys=False, default=_json_default)
            handle.write("\n")
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def current_umask() -> int:
    """The process umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def report_path(run_dir_or_file: str | os.PathLike[str]) -> Path:
    """The report file for a run folder (or the file itself when a file is given)."""
    path = Path(run_dir_or_file)
    return path / REPORT_FILENAME if path.is_dir() and path.name != REPORT_FILENAME else path


BINARY_PROBE_BYTES = 8192
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def json_type_name(value: Any) -> str:
    """How a JSON value's type reads in a message: 'an object', 'a list', 'a string', 'a boolean', 'null', 'a number'."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def decode_report_text(path: Path, data: bytes) -> str:
    """The file's text, or `ReportError` saying it is empty, binary or not UTF-8."""
    if data.startswith(UTF16_BOMS):
        raise ReportError(f"{path}: UTF-16 text; run reports are UTF-8 JSON, re-save the file as UTF-8")
    if b"\x00" in data[:BINARY_PROBE_BYTES]:
        raise ReportError(f"{path}: a binary file, not a JSON run report; pass the run folder or its {REPORT_FILENAME}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                          "run reports are UTF-8 JSON, re-save the file as UTF-8") from None
    if not text.strip():
        raise ReportError(f"{path}: the file is empty; the run may have been killed before its report was written")
    return text


def check_schema_version(path: Path, version: Any) -> None:
    """Refuse a missing, wrongly typed, older or newer `schema_version` (READABLE_SCHEMA_VERSIONS are read)."""
    readable = " or ".join(map(str, READABLE_SCHEMA_VERSIONS))
    if version is None:
        raise ReportError(f"{path}: no 'schema_version' field; this is not a peft-efficiency run report")
    if isinstance(version, bool) or not isinstance(version, (int, float)) or not math.isfinite(version):
        raise ReportError(f"{path}: schema_version is {json_type_name(version)} ({json.dumps(version)}), expected the "
                          f"number {readable}; the file was edited by hand or written by another tool")
    if version > REPORT_SCHEMA_VERSION:
        raise ReportError(f"{path}: schema_version {version!r} is newer than the versions this peft-efficiency reads "
                          f"({readable}); upgrade peft-efficiency")
    if version not in READABLE_SCHEMA_VERSIONS:
        raise ReportError(f"{path}: schema_version {version!r} is older than the versions this peft-efficiency reads "
                          f"({readable}); re-run with this version")


def load_report(run_dir_or_file: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a run report; raise `ReportError` naming the file when it cannot be used.

    Missing sections are not fatal here (see `missing_sections`): a table can still show what is there. NaN and
    Infinity, which the callback writes for a diverged metric, are accepted.
    """
    path = report_path(run_dir_or_file)
    if not path.exists():
        raise ReportError(f"{path}: no run report here (expected {REPORT_FILENAME}; was the run made with EfficiencyCallback?)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReportError(f"{path}: cannot read it ({exc.strerror or exc}); check the path and its permissions") from None
    text = decode_report_text(path, data)
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); "
                          "the file is corrupted or truncated") from None
    except RecursionError:
        raise ReportError(f"{path}: JSON nested too deeply to be a run report") from None
    if not isinstance(report, dict):
        raise ReportError(f"{path}: a run report must be a JSON object, found {json_type_name(report)}")
    check_schema_version(path, report.get("schema_version"))
    return report


def missing_sections(report: dict[str, Any]) -> list[str]:
    """Required top-level sections that are absent or not objects."""
    return [name for name in REQUIRED_SECTIONS if not isinstance(report.get(name), dict)]


def record_quality(
    output_dir: str | os.PathLike[str],
    metrics: dict[str, Any],
    primary_metric: str | None = None,
    greater_is_better: bool | None = None,
) -> Path:
    """Merge quality metrics measured outside the Trainer (e.g. an lm-eval score) into an existing run report.

    Args:
        output_dir: the run folder holding `efficiency_report.json` (or the file itself).
        metrics: metric name -> value; merged into `quality.eval` and appended to `quality.history`.
        primary_metric: the metric a comparison ranks this run by; kept if already set and not given.
        greater_is_better: direction of `primary_metric`.

    Example: `record_quality("runs/lora", {"bibleqa/lenient": 0.31}, primary_metric="bibleqa/lenient")`
    """
    path = report_path(output_dir)
    report = load_report(path)
    quality = report.setdefault("quality", {})
    quality.setdefault("eval", {}).update(metrics)
    quality.setdefault("history", []).append({"source": "record_quality", **metrics})
    if primary_metric is not None:
        quality["primary_metric"] = primary_metric
    if greater_is_better is not None:
        quality["greater_is_better"] = greater_is_better
    return write_report(path, report)
