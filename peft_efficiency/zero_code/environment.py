"""The PEFT_EFFICIENCY_* variables `peft-efficiency run` checks before it starts a command, with the callback's own
checks (`peft_efficiency.callbacks.options`, `peft_efficiency.data.paths`), so a bad value stops the command before
it has loaded a model, in one line naming the variable and what it accepts.

Both modules use the standard library only, and are loaded from their files without their packages' `__init__`
(which import transformers and datasets, seconds before the command could start).

Example:
    for problem in environment_problems():
        print(problem)   # PEFT_EFFICIENCY_ENERGY='maybe': expected 1/true/yes/on or 0/false/no/off; ...
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable, Mapping

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def light_module(name: str) -> ModuleType:
    """`peft_efficiency.<name>` (a standard-library-only module), imported already or loaded from its file alone."""
    qualified = f"peft_efficiency.{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(f"_peft_efficiency_run_{name.replace('.', '_')}",
                                                  PACKAGE_DIR.joinpath(*name.split(".")).with_suffix(".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


options = light_module("callbacks.options")
ENV_PREFIX = options.ENV_PREFIX
check_country_iso_code = options.check_country_iso_code


def _check_country() -> None:
    raw = options.env_default("COUNTRY")
    if raw is not None:
        check_country_iso_code(raw)


def _check_data_dir() -> None:
    light_module("data.paths").resolve_data_dir(None)


# name after the prefix -> a check that raises ValueError/TypeError with what the variable accepts (None: any text)
CHECKS: dict[str, Callable[[], object] | None] = {
    "TASK": None,
    "METHOD": None,
    "MODEL_NAME": None,
    "COUNTRY": _check_country,
    "ENERGY": lambda: options.env_flag("ENERGY", True),
    "LOG_ALL_FIGURES": lambda: options.env_flag("LOG_ALL_FIGURES", False),
    "LABELS": options.env_labels,
    "DATA_DIR": _check_data_dir,
    "ATTACH": None,  # both set by `run` itself
    "STARTUP": None,
}


def unknown_variables(environ: Mapping[str, str] = os.environ) -> list[str]:
    """PEFT_EFFICIENCY_* names set in `environ` that nothing in peft-efficiency reads (typos, e.g. ..._COUNTY)."""
    return sorted(name for name in environ if name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX):] not in CHECKS)


def environment_problems(skip: set[str] = frozenset()) -> list[str]:
    """One line per PEFT_EFFICIENCY_* variable of this process's environment whose value the callback would refuse
    (variables named in `skip`, which the command's options replace, are not checked)."""
    problems = []
    for suffix, check in CHECKS.items():
        name = ENV_PREFIX + suffix
        if check is None or name in skip or not os.environ.get(name):
            continue
        try:
            check()
        except (ValueError, TypeError) as error:
            text = str(error)
            if not text.startswith(name):
                text = f"{name}={os.environ[name]!r}: {text}"
            problems.append(f"{text}; fix or unset {name}")
    return problems
