"""The run report file `<output_dir>/efficiency_report.json`: schema version, atomic writing, checked reading.

The schema is documented as JSON Schema in `report_schema.json` next to this module; its `x-changelog` lists
what each version changed. Readers accept every version in `READABLE_SCHEMA_VERSIONS` (version 1 reports lack
the training-state figures, version 1 and 2 reports the liveness fields; both then read as missing).

Every write of a run report stamps who wrote it and when (`run.updated_at`, `run.host`, `run.pid`,
`run.pid_create_time`), so a reader can tell a live run from a dead one (`peft_efficiency.compare.liveness`).
A new run in a folder that holds an earlier run's report moves that report aside first (`stages`).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Any

REPORT_SCHEMA_VERSION = 3
# 2 added memory.weights_bytes ... activation_peak_bytes; 3 added run.updated_at/host/pid, stages
READABLE_SCHEMA_VERSIONS = (1, 2, 3)
REPORT_FILENAME = "efficiency_report.json"
REQUIRED_SECTIONS = ("run", "params", "time", "memory", "energy", "flops", "quality", "environment")
SCHEMA_PATH = Path(__file__).with_name("report_schema.json")


class ReportError(ValueError):
    """A run report that cannot be read: the message names the file and what is wrong with it."""


def liveness_stamp(write_interval_seconds: float | None = None) -> dict[str, Any]:
    """Who writes now and when: `updated_at` (ISO 8601 UTC), `host`, `pid`, `pid_create_time` (the process's start,
    seconds since the epoch, so a reused pid is not taken for the writer) and, when given, `write_interval_seconds`
    (the longest the writer promises to go without a write while the run is `running`)."""
    stamp: dict[str, Any] = {"updated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
                             "host": socket.gethostname(), "pid": os.getpid(), "pid_create_time": _create_time(os.getpid())}
    if write_interval_seconds is not None:
        stamp["write_interval_seconds"] = float(write_interval_seconds)
    return stamp


@functools.lru_cache(maxsize=4)
def _create_time(pid: int) -> float | None:
    """The start time of process `pid` (psutil), None where it cannot be read (a sandbox without /proc)."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def is_run_report(report: Any) -> bool:
    """A run report (as opposed to another JSON file written atomically, e.g. a checkpoint's carried totals)."""
    return isinstance(report, dict) and "schema_version" in report and isinstance(report.get("run"), dict)


def write_report(path: str | os.PathLike[str], report: dict[str, Any], *, stamp: bool = True,
                 write_interval_seconds: float | None = None) -> Path:
    """Write `report` as JSON to `path` atomically (temporary file in the same folder, then rename).

    A run report's `run` section is stamped with `liveness_stamp(write_interval_seconds)` (the caller's dict is
    not changed); `stamp=False` keeps the stamp of the run's own writer, for a later process that only merges
    figures into the report (`record_quality`).
    """
    if stamp and is_run_report(report):
        report = {**report, "run": {**report["run"], **liveness_stamp(write_interval_seconds)}}
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
    return write_report(path, report, stamp=False)


STAGE_PATTERN = re.compile(r"efficiency_report\.stage-(\d+)\.json")


def stage_file(report_file: Path, number: int) -> Path:
    """`<folder>/efficiency_report.stage-<number>.json`: where stage `number`'s report is kept."""
    return report_file.with_name(f"{report_file.stem}.stage-{number}.json")


def stage_files(report_file: str | os.PathLike[str]) -> list[Path]:
    """The earlier stages' reports kept beside `report_file` (a run folder or its report), in stage order."""
    report_file = report_path(report_file)
    found = [(int(m.group(1)), p) for p in report_file.parent.glob("efficiency_report.stage-*.json")
             if (m := STAGE_PATTERN.fullmatch(p.name))]
    return [path for _, path in sorted(found)]


def keep_earlier_stage(report_file: str | os.PathLike[str], *, resuming: bool) -> str | None:
    """Before a new run writes `report_file`: move an earlier run's report there aside as the next stage.

    The report is kept (renamed to `efficiency_report.stage-<n>.json`, n = 1 + the highest stage already kept)
    unless `resuming` (the new run continues the report's totals from a checkpoint) or it is this very run's
    own report: status `running`, written by this host and process (the Trainer restarting its inner loop, as
    `auto_find_batch_size` does). A report that cannot be read is moved aside too, never overwritten.

    Returns the kept file's name, or None when nothing was moved. Example:
        keep_earlier_stage("runs/x/efficiency_report.json", resuming=False)   # 'efficiency_report.stage-1.json'
    """
    report_file = report_path(report_file)
    if resuming or not report_file.is_file():
        return None
    try:
        run = load_report(report_file).get("run")
    except ReportError:
        run = None
    if isinstance(run, dict) and run.get("status") == "running" and run.get("pid") == os.getpid() \
            and run.get("host") == socket.gethostname():
        return None
    numbers = [int(STAGE_PATTERN.fullmatch(p.name).group(1)) for p in stage_files(report_file)]
    target = stage_file(report_file, max(numbers, default=0) + 1)
    os.replace(report_file, target)
    return target.name


def earlier_stages(report_file: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """What a new report says about the stages kept beside it: per stage its file and the run's status, method,
    start, end and step (None where the kept file cannot be read). For `run.previous_stages`."""
    stages = []
    for path in stage_files(report_file):
        try:
            run = load_report(path).get("run")
        except ReportError:
            run = None
        run = run if isinstance(run, dict) else {}
        number = int(STAGE_PATTERN.fullmatch(path.name).group(1))
        stages.append({"stage": number, "file": path.name,
                       **{key: run.get(key) for key in ("status", "method", "started_at", "ended_at", "global_step")}})
    return stages
