"""The one place that reads local data files: jsonl / json / csv, plain or gzipped, with field checks.

Every problem becomes a :class:`DataFileError` whose message names the file and the line, row or field at fault.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from .paths import DataFileError

FieldTypes = Mapping[str, "type | tuple[type, ...]"]


@contextlib.contextmanager
def open_text(path: Path) -> Iterator[IO[str]]:
    """Open ``path`` as UTF-8 text (a leading BOM is dropped), gunzipping when the name ends in ``.gz``."""
    try:
        if path.suffix == ".gz":
            handle: IO[str] = gzip.open(path, "rt", encoding="utf-8-sig", newline="")
        else:
            handle = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise DataFileError(f"data file {path} cannot be opened: {exc}") from exc
    try:
        yield handle
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # bad gzip stream, truncated file, not UTF-8
        raise DataFileError(f"data file {path} cannot be read: {exc}") from exc
    finally:
        handle.close()


def _type_names(expected: type | tuple[type, ...]) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(t.__name__ for t in types)


def check_fields(record: Any, fields: FieldTypes, path: Path, where: str) -> None:
    """Check that ``record`` is an object holding every field in ``fields`` with the expected type.

    ``bool`` does not count as ``int`` unless ``bool`` is listed. ``where`` names the record, e.g. ``"line 17"``.
    """
    if not isinstance(record, dict):
        raise DataFileError(f"data file {path}: {where} is a JSON {type(record).__name__}, expected an object")
    for name, expected in fields.items():
        if name not in record:
            raise DataFileError(f"data file {path}: {where} has no field '{name}'")
        value = record[name]
        types = expected if isinstance(expected, tuple) else (expected,)
        if isinstance(value, bool) and bool not in types:
            ok = False
        else:
            ok = isinstance(value, types)
        if not ok:
            raise DataFileError(
                f"data file {path}: {where} field '{name}' is {type(value).__name__} ({value!r:.40}), "
                f"expected {_type_names(expected)}"
            )


def read_jsonl(path: Path, fields: FieldTypes) -> list[dict[str, Any]]:
    """Read one JSON object per line (blank lines skipped), checking ``fields`` on each.

    Example:
        >>> read_jsonl(Path("imdb_test_2500.jsonl.gz"), {"text": str, "label": int})  # doctest: +SKIP
    """
    records = []
    with open_text(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFileError(
                    f"data file {path}: line {line_no} is not valid JSON ({exc.msg} at column {exc.colno})"
                ) from exc
            check_fields(record, fields, path, f"line {line_no}")
            records.append(record)
    if not records:
        raise DataFileError(f"data file {path} holds no records")
    return records


def read_json(path: Path) -> Any:
    """Read one JSON document (``.json`` or ``.json.gz``)."""
    with open_text(path) as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as exc:
            raise DataFileError(
                f"data file {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from exc


def read_csv(
    path: Path, columns: Sequence[str], delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL
) -> list[dict[str, str]]:
    """Read a delimited text file with a header row holding ``columns``; any line ending (CR, LF, CRLF) works.

    Every data row must have as many fields as the header. Rows come back as dicts keyed by header name.
    """
    rows = []
    with open_text(path) as handle:
        reader = csv.reader(handle, delimiter=delimiter, quoting=quoting)
        try:
            header = next(reader)
        except StopIteration:
            raise DataFileError(f"data file {path} is empty (expected a header row with {list(columns)})") from None
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataFileError(
                f"data file {path}: the header row {header} lacks the column(s) {missing} "
                f"(delimiter {delimiter!r}; expected {list(columns)})"
            )
        try:
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    raise DataFileError(
                        f"data file {path}: row {len(rows) + 1} (line {reader.line_num}) has {len(row)} fields, "
                        f"expected {len(header)} separated by {delimiter!r}: {row!r:.120}"
                    )
                rows.append(dict(zip(header, row)))
        except csv.Error as exc:
            raise DataFileError(f"data file {path}: line {reader.line_num} cannot be parsed: {exc}") from exc
    if not rows:
        raise DataFileError(f"data file {path} holds a header but no rows")
    return rows
