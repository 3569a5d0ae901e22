"""lm-evaluation-harness integration: where the bundled task YAMLs live, and the `eval` pass-through.

Example:
    >>> from peft_efficiency.harness import tasks_path
    >>> (tasks_path() / "bibleqa" / "bibleqa.yaml").is_file()
    True
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["TASK_NAMES", "GROUP_NAME", "tasks_path"]

GROUP_NAME = "peft_efficiency"
# The tasks the group runs, plus variants (kept in sync with the YAMLs by tests/test_harness_tasks.py).
TASK_NAMES = ("squad_v1", "imdb", "imdb_sample2500", "boolq_sl", "boolq_sl_humant", "bibleqa")


def tasks_path() -> Path:
    """The folder of the bundled lm-eval tasks (`peft_efficiency.harness_tasks`), for `--include_path`."""
    from importlib.util import find_spec

    spec = find_spec("peft_efficiency.harness_tasks")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    checkout = Path(__file__).resolve().parents[2] / "harness_tasks"  # a source checkout not (yet) installed
    if (checkout / "__init__.py").is_file():
        return checkout
    raise FileNotFoundError(
        "the bundled lm-eval tasks (package peft_efficiency.harness_tasks) are not installed; "
        "reinstall with `pip install peft-efficiency` (or `pip install -e .` from a checkout)"
    )
