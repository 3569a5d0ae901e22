"""What the start-up hook does to lm-eval: the bundled tasks become visible to every `TaskManager`, so
`lm_eval --tasks bibleqa` works without `--include_path`.

`patch_task_manager(lm_eval.tasks)` wraps `TaskManager.__init__` once: the bundled tasks folder goes first in
`include_path`, before the user's own folders. lm-eval indexes its own tasks, then the include paths in order, a later
folder overriding an earlier one, so a user's task wins a name clash with a bundled one (and a bundled one wins over
an lm-eval task of the same name, as with `--include_path "$(peft-efficiency tasks-path)"`).

It stands down (the TaskManager is built exactly as asked) when
- the user's include path already holds the bundled folder;
- `include_defaults=False`: the caller asked for its own folders only;
- lm-eval loads the `lm_eval.tasks` entry point itself (task plugins, an open upstream pull request): loading it
  imports the package `peft_efficiency.harness_tasks`, which nothing in peft-efficiency imports (`tasks_path()` only
  locates it). If that import happens while a TaskManager is being built with the folder added, that TaskManager is
  built again as asked.

Only the index the TaskManager builds at `__init__` is touched, so every way of loading from it sees the bundled
tasks: `TaskManager.load()` (lm-eval 0.4.12 and newer, which deprecates `get_task_dict`), `get_task_dict` and
`simple_evaluate(tasks=[...])` before it. Checked against lm-eval 0.4.13, the newest release on 2026-12-06: it has
`TaskManager.load` and still loads no task-plugin entry point, so the hook is what finds the tasks. An lm-eval
outside the range peft-efficiency supports gets one message naming both versions, and the tasks are not added.
"""

from __future__ import annotations

import functools
import inspect
import sys
from pathlib import Path
from typing import Any

_PATCHED = "__peft_efficiency_patched__"
TASKS_PACKAGE = "peft_efficiency.harness_tasks"  # the value of our `lm_eval.tasks` entry point


def lm_eval_loads_entry_point() -> bool:
    """True once the tasks package has been imported, which only lm-eval's loading of our entry point does."""
    return TASKS_PACKAGE in sys.modules


def patch_task_manager(tasks_module: Any) -> None:
    """Wrap `tasks_module.TaskManager.__init__` (once) so that the bundled tasks are on its include path."""
    manager_cls = getattr(tasks_module, "TaskManager", None)
    if manager_cls is None or getattr(manager_cls.__init__, _PATCHED, False):
        return
    from peft_efficiency.versions import check_supported

    check_supported("lm-eval")  # the start-up hook prints this one line; the bundled tasks are then not added
    original_init = manager_cls.__init__
    signature = inspect.signature(original_init)
    if "include_path" not in signature.parameters:
        return  # an lm-eval we do not know how to extend: leave it alone

    @functools.wraps(original_init)
    def __init__(self, *args, **kwargs):
        bound = _with_bundled_tasks(signature, self, args, kwargs)
        if bound is None:
            return original_init(self, *args, **kwargs)
        original_init(*bound.args, **bound.kwargs)
        if lm_eval_loads_entry_point():  # lm-eval loaded the entry point while indexing: index as asked
            original_init(self, *args, **kwargs)

    setattr(__init__, _PATCHED, True)
    manager_cls.__init__ = __init__


def _with_bundled_tasks(signature: inspect.Signature, manager: Any, args: tuple, kwargs: dict):
    """The TaskManager's arguments with the bundled folder first in `include_path`, or None to build it as asked."""
    if lm_eval_loads_entry_point():
        return None
    try:
        bound = signature.bind(manager, *args, **kwargs)
    except TypeError:  # lm-eval reports the bad arguments
        return None
    bound.apply_defaults()
    if not bound.arguments.get("include_defaults", True):
        return None
    bundled = bundled_tasks_folder()
    paths = _as_list(bound.arguments.get("include_path"))
    if bundled is None or any(_same_folder(path, bundled) for path in paths):
        return None
    bound.arguments["include_path"] = [str(bundled), *paths]
    return bound


def bundled_tasks_folder() -> Path | None:
    from peft_efficiency.harness import tasks_path

    try:
        return tasks_path()
    except FileNotFoundError:
        return None


def _as_list(include_path: Any) -> list:
    if include_path is None:
        return []
    return list(include_path) if isinstance(include_path, (list, tuple)) else [include_path]


def _same_folder(path: Any, folder: Path) -> bool:
    try:
        return Path(path).resolve() == folder
    except (OSError, TypeError, ValueError):
        return False
