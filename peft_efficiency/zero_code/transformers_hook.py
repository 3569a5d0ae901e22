"""What the start-up hook does to transformers (called by `peft_efficiency_startup` right after a module executes).

- `register_report_to(integration_utils)`: `report_to="peft_efficiency"` (alone or in a list) is a reporting
  integration like "tensorboard"; transformers builds it with no arguments, which makes an `EfficiencyCallback()`.
  `report_to="all"` ("all integrations installed") includes it, as it includes codecarbon when codecarbon is
  installed: this plugin is installed to measure. Whoever asks for "all" gets one log line naming what it attached.
- `patch_trainer(trainer_module)`: wraps `Trainer.__init__` and `Trainer.add_callback` once. Under
  `peft-efficiency run` (PEFT_EFFICIENCY_ATTACH=1) a Trainer built without a peft-efficiency callback gets
  `EfficiencyCallback()` in its `callbacks` argument, the same path as writing it in the script. Always: a callback
  made by `report_to` or by `run` gives way to one the user attached (in `callbacks=` or with `add_callback`), so a
  Trainer never measures twice. A Trainer without such a callback is left exactly as it was.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import sys
import weakref
from typing import Any

from peft_efficiency.zero_code import ATTACH_VARIABLE, REPORT_TO_NAME

# id -> the EfficiencyCallbacks made here (by report_to or by run), as opposed to those a user made
_AUTOMATIC: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_PATCHED = "__peft_efficiency_patched__"
_ANNOUNCED: set[tuple[str, ...]] = set()  # the report_to="all" lists already logged in this process
logger = logging.getLogger("peft_efficiency")


def automatic_callback() -> Any:
    """A new `EfficiencyCallback()` (its options come from PEFT_EFFICIENCY_* variables), remembered as automatic."""
    from peft_efficiency.callbacks import EfficiencyCallback

    callback = EfficiencyCallback()
    _AUTOMATIC[id(callback)] = callback
    return callback


def is_automatic(callback: Any) -> bool:
    return _AUTOMATIC.get(id(callback)) is callback


class PeftEfficiencyIntegration:
    """What transformers finds under `report_to="peft_efficiency"`: calling it makes an `EfficiencyCallback()`."""

    def __new__(cls) -> Any:
        return automatic_callback()


def register_report_to(integration_utils: Any) -> None:
    """Add "peft_efficiency" to transformers' table of reporting integrations (`INTEGRATION_TO_CALLBACK`) and to
    what `report_to="all"` means (`get_available_reporting_integrations`, which transformers calls for "all" only)."""
    integration_utils.INTEGRATION_TO_CALLBACK.setdefault(REPORT_TO_NAME, PeftEfficiencyIntegration)
    original = integration_utils.get_available_reporting_integrations
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    def get_available_reporting_integrations() -> list[str]:
        names = list(original())
        if REPORT_TO_NAME not in names:
            names.append(REPORT_TO_NAME)
        announce_all(names)
        return names

    setattr(get_available_reporting_integrations, _PATCHED, True)
    integration_utils.get_available_reporting_integrations = get_available_reporting_integrations
    package = sys.modules.get("transformers.integrations")  # re-exports it; replace a copy it may hold already
    if package is not None and vars(package).get("get_available_reporting_integrations") is original:
        package.get_available_reporting_integrations = get_available_reporting_integrations


def announce_all(names: list[str]) -> None:
    """Log once per process (per distinct list) what `report_to="all"` attaches."""
    key = tuple(names)
    if key in _ANNOUNCED:
        return
    _ANNOUNCED.add(key)
    logger.warning('peft-efficiency: report_to="all" attaches %s (every reporting integration installed; '
                   'peft_efficiency writes <output_dir>/efficiency_report.json); name them in report_to to choose',
                   ", ".join(names))


def attach_requested() -> bool:
    return os.environ.get(ATTACH_VARIABLE) == "1"


def patch_trainer(trainer_module: Any) -> None:
    """Wrap `Trainer.__init__` and `Trainer.add_callback` (once; subclasses such as SFTTrainer go through them)."""
    trainer_cls = trainer_module.Trainer
    if getattr(trainer_cls.__init__, _PATCHED, False):
        return
    original_init, original_add = trainer_cls.__init__, trainer_cls.add_callback
    signature = inspect.signature(original_init)

    @functools.wraps(original_init)
    def __init__(self, *args, **kwargs):
        if attach_requested():
            args, kwargs = _with_efficiency_callback(signature, self, args, kwargs)
        original_init(self, *args, **kwargs)
        keep_one_measurement(self)

    @functools.wraps(original_add)
    def add_callback(self, callback):
        original_add(self, callback)
        keep_one_measurement(self)

    setattr(__init__, _PATCHED, True)
    trainer_cls.__init__, trainer_cls.add_callback = __init__, add_callback


def _with_efficiency_callback(signature: inspect.Signature, trainer: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """The Trainer's arguments with `EfficiencyCallback()` added to `callbacks`, unless it will have one anyway."""
    try:
        bound = signature.bind(trainer, *args, **kwargs)
    except TypeError:  # the Trainer itself reports the bad arguments
        return args, kwargs
    callbacks = list(bound.arguments.get("callbacks") or [])
    if _names_report_to(bound.arguments.get("args")) or any(_is_measurement(c) for c in callbacks):
        return args, kwargs
    bound.arguments["callbacks"] = [*callbacks, automatic_callback()]
    return bound.args[1:], bound.kwargs


def _names_report_to(training_args: Any) -> bool:
    report_to = getattr(training_args, "report_to", None) or []
    return REPORT_TO_NAME in ([report_to] if isinstance(report_to, str) else report_to)


def _is_measurement(callback: Any) -> bool:
    from peft_efficiency.callbacks.base import MeasurementCallback

    if isinstance(callback, type):
        return issubclass(callback, MeasurementCallback)
    return isinstance(callback, MeasurementCallback)


def keep_one_measurement(trainer: Any) -> None:
    """Drop automatic callbacks when the user attached a peft-efficiency callback; keep one automatic otherwise."""
    handler = getattr(trainer, "callback_handler", None)
    automatic = [c for c in getattr(handler, "callbacks", ()) if is_automatic(c)]
    if not automatic:
        return  # nothing of ours in this Trainer: leave it alone
    users = [c for c in handler.callbacks if _is_measurement(c) and not is_automatic(c)]
    for callback in automatic if users else automatic[1:]:
        handler.remove_callback(callback)
