"""How peft-efficiency callbacks meet a Trainer, whatever attached them (`callbacks=[...]`, `add_callback`,
`report_to`, `peft-efficiency run`): one class-level wrapper of `Trainer.train`, installed once per process.

Before the original `train` runs, the wrapper puts our callbacks right after DefaultFlowCallback (so their figures
are in `logs` before the `report_to` integrations read them), refuses a model with nothing to train, and tells
them the checkpoint being resumed, the trainer's class and its separate reference model (trl's `ref_model`) if
any. If `train` raises, it ends the run session with "interrupted" (Ctrl-C, SIGTERM) or "failed" and re-raises
(after SIGTERM with its default action, it ends the process by that signal). It keeps no reference to any Trainer.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from peft_efficiency.callbacks.termination import RunTerminated, redeliver
from peft_efficiency.train_output import carry_figures_into_train_output

SESSION_ATTRIBUTE = "_peft_efficiency_session"  # the run session, on the TrainerState of the train() it measures
_WRAPPED_MARK = "_peft_efficiency_wrapped"


def ours(trainer: Any) -> list[Any]:
    from peft_efficiency.callbacks.base import MeasurementCallback

    return [cb for cb in trainer.callback_handler.callbacks if isinstance(cb, MeasurementCallback)]


def move_before_reporters(callbacks: list[Any], mine: list[Any]) -> None:
    """Place `mine` (in their order) right after DefaultFlowCallback: they see a step's flow decisions
    (should_log, should_evaluate) and their figures are in `logs` before the report_to integrations read them."""
    for callback in mine:
        callbacks.remove(callback)
    position = next((i + 1 for i, cb in enumerate(callbacks) if type(cb).__name__ == "DefaultFlowCallback"), 0)
    callbacks[position:position] = mine
    place_phase_end_marker(callbacks)


def place_phase_end_marker(callbacks: list[Any]) -> None:
    """One PhaseEndMarker, last of all callbacks (other callbacks' work in evaluate/save events is theirs)."""
    from peft_efficiency.callbacks.base import PhaseEndMarker

    markers = [cb for cb in callbacks if isinstance(cb, PhaseEndMarker)]
    for marker in markers:
        callbacks.remove(marker)
    callbacks.append(markers[0] if markers else PhaseEndMarker())


def check_trainable(model: Any) -> None:
    """Refuse to start training a model with no trainable parameter, with a message that says what to do."""
    parameters = getattr(model, "parameters", None)
    if parameters is None:
        return
    if not any(p.requires_grad for p in parameters()):
        raise ValueError(
            f"{type(model).__name__} has no trainable parameters (every requires_grad is False), so train() would "
            "update nothing. Fix: wrap it with peft.get_peft_model(...), or unfreeze the parameters to train."
        )


def resolve_checkpoint(value: Any, output_dir: str) -> str | None:
    if isinstance(value, bool) and value:
        from transformers.trainer_utils import get_last_checkpoint

        return get_last_checkpoint(output_dir)
    return str(value) if isinstance(value, (str, os.PathLike)) else None


def install_train_wrapper() -> None:
    """Wrap `transformers.Trainer.train` once per process (subclasses such as trl's SFTTrainer inherit it)."""
    from transformers import Trainer

    original = Trainer.train
    if getattr(original, _WRAPPED_MARK, False):
        return

    @functools.wraps(original)
    def train(self: Any, *args: Any, **kwargs: Any) -> Any:
        mine = ours(self)
        if not mine:
            return original(self, *args, **kwargs)
        move_before_reporters(self.callback_handler.callbacks, mine)
        check_trainable(self.model)
        resume = kwargs.get("resume_from_checkpoint", args[0] if args else None)
        checkpoint = resolve_checkpoint(resume, self.args.output_dir)
        for callback in mine:
            callback.resume_checkpoint = checkpoint
            callback.trainer_class = type(self)
            callback.reference_model = getattr(self, "ref_model", None)
        try:
            output = original(self, *args, **kwargs)
        except BaseException as exc:
            session = getattr(self.state, SESSION_ATTRIBUTE, None)
            if session is not None:
                interrupted = isinstance(exc, (KeyboardInterrupt, RunTerminated)) or bool(session.run.get("signal"))
                session.abort("interrupted" if interrupted else "failed", exc, self.state)
            redeliver(exc)  # SIGTERM with its default action: the process ends by the signal, as without the plugin
            raise
        session = getattr(self.state, SESSION_ATTRIBUTE, None)
        if session is not None:  # a Trainer whose log() copied the logs (trl <= 0.19 SFTTrainer) returned none
            carry_figures_into_train_output(output, session.final_logs)
        return output

    setattr(train, _WRAPPED_MARK, True)
    Trainer.train = train
