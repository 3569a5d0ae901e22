"""The totals a checkpoint carries to a resumed run (`checkpoint-N/efficiency_state.json`), checked on reading.

A resumed run continues time, token, FLOPs and energy totals from the checkpoint. A file that is missing,
unparseable or of the wrong shape (written by hand, by another version, truncated) never stops the training: the
totals restart at this session and the report's `run.resume_note` says what was wrong.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Callable, Iterable

from peft_efficiency.report import write_report

logger = logging.getLogger("peft_efficiency")
STATE_FILENAME = "efficiency_state.json"
RESTART = "time, token, FLOPs and energy totals start again at this session"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_number_list(value: Any) -> bool:
    return isinstance(value, list) and all(is_number(item) for item in value)


def is_number_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and is_number(v) for k, v in value.items())


def is_dict(value: Any) -> bool:
    return isinstance(value, dict)


def is_optional_number(value: Any) -> bool:
    return value is None or is_number(value)


# What each check accepts, for the message.
CHECK_NAMES: dict[Callable[[Any], bool], str] = {
    is_number: "a finite number", is_count: "a whole number >= 0", is_number_list: "a list of numbers",
    is_number_dict: "an object of numbers", is_optional_number: "a number or null", is_dict: "an object",
}


def problems_in(saved: Any, measures: Iterable[Any]) -> list[str]:
    """What is wrong with a parsed state file, one phrase per problem ([] when it can be used)."""
    if not isinstance(saved, dict):
        return [f"it holds a JSON {type(saved).__name__}, not an object"]
    problems = []
    if not is_count(saved.get("sessions", 1)) or saved.get("sessions", 1) < 1:
        problems.append(f"'sessions' is {saved.get('sessions')!r}, not a whole number >= 1")
    if not isinstance(saved.get("started_at", ""), (str, type(None))):
        problems.append(f"'started_at' is {saved.get('started_at')!r}, not a time stamp")
    for measure in measures:
        part = saved.get(measure.name, {})
        if not isinstance(part, dict):
            problems.append(f"'{measure.name}' is {part!r}, not an object")
            continue
        for key, check in measure.carried_state_schema().items():
            if key in part and not check(part[key]):
                problems.append(f"'{measure.name}.{key}' is {part[key]!r}, not {CHECK_NAMES.get(check, 'valid')}")
        missing = [key for key in getattr(measure, "required_carried_keys", ()) if part and key not in part]
        if missing:  # a state written by an older version: continuing some totals and not others would mix them
            problems.append(f"'{measure.name}' lacks {', '.join(missing)} (written by an older peft-efficiency)")
    return problems


def read_carried_state(checkpoint_dir: str, measures: list[Any]) -> tuple[dict[str, Any] | None, str | None]:
    """(the saved totals, None), or (None, a note saying why the totals restart)."""
    path = Path(checkpoint_dir) / STATE_FILENAME
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, f"{path} is missing or unreadable ({exc.strerror or exc}; checkpoint written without peft-efficiency?): {RESTART}"
    try:
        saved = json.loads(text)
    except ValueError as exc:
        return None, f"{path} is not valid JSON ({exc}): {RESTART}"
    problems = problems_in(saved, measures)
    if problems:
        return None, f"{path} cannot be used: {'; '.join(problems)}: {RESTART}"
    return saved, None


def write_carried_state(checkpoint_dir: Path, carried: dict[str, Any]) -> None:
    """Store the totals in the checkpoint folder (main process); a failure is logged, never raised."""
    path = checkpoint_dir / STATE_FILENAME
    try:
        write_report(path, carried)
    except OSError as exc:
        logger.warning("peft-efficiency: cannot store totals in %s (%s); a resumed run restarts them", path, exc)
