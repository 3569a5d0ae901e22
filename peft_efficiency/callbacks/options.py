"""Checks of the callbacks' constructor arguments (one message naming the argument and what it accepts), and the
`PEFT_EFFICIENCY_*` environment variables that give their defaults (set by `peft-efficiency run` too)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

ENV_PREFIX = "PEFT_EFFICIENCY_"


def env_default(name: str) -> str | None:
    """`$PEFT_EFFICIENCY_<name>`, or None when unset or empty."""
    return os.environ.get(ENV_PREFIX + name) or None


def env_flag(name: str, default: bool) -> bool:
    """A boolean variable: 1/true/yes/on or 0/false/no/off (any case); anything else is an error naming it."""
    raw = env_default(name)
    if raw is None:
        return default
    if raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if raw.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{ENV_PREFIX}{name}={raw!r}: expected 1/true/yes/on or 0/false/no/off")


def env_labels() -> dict[str, str]:
    """`$PEFT_EFFICIENCY_LABELS` as "key=value,key=value"."""
    raw = env_default("LABELS")
    if raw is None:
        return {}
    labels = {}
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{ENV_PREFIX}LABELS={raw!r}: expected key=value pairs separated by commas, e.g. split=90_10,seed=1")
        labels[key.strip()] = value.strip()
    return labels


def check_optional_str(name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a string or None, got {type(value).__name__} {value!r}")
    return value


def check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def check_optional_flag(name: str, value: Any) -> bool | None:
    return None if value is None else check_flag(name, value)


def check_non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {type(value).__name__} {value!r}")
    return value


def check_positive_number(name: str, value: Any) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise ValueError(f"{name} must be a number of seconds > 0, got {type(value).__name__} {value!r}")
    return float(value)


def check_labels(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"labels must be a dict of string keys to string values, e.g. {{'split': '90_10'}}, got {value!r}")
    return {key: str(item) for key, item in value.items()}


@lru_cache(maxsize=1)
def codecarbon_country_codes() -> frozenset[str] | None:
    """The ISO alpha-3 codes of codecarbon's offline carbon-intensity table, read without importing codecarbon."""
    spec = importlib.util.find_spec("codecarbon")
    if spec is None or not spec.submodule_search_locations:
        return None
    table = Path(list(spec.submodule_search_locations)[0]) / "data" / "private_infra" / "global_energy_mix.json"
    try:
        return frozenset(json.loads(table.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def check_country_iso_code(value: Any) -> str:
    """An ISO 3166-1 alpha-3 code known to codecarbon's table, upper-cased ('svn' -> 'SVN')."""
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise ValueError(f"country_iso_code must be an ISO 3166-1 alpha-3 code such as 'USA' or 'SVN', got {value!r}")
    code = value.upper()
    known = codecarbon_country_codes()
    if known is not None and code not in known:
        raise ValueError(f"country_iso_code {value!r} is not in codecarbon's carbon-intensity table ({len(known)} "
                         f"countries, e.g. USA, DEU, FRA, SVN, CHN); use one of its ISO 3166-1 alpha-3 codes")
    return code
