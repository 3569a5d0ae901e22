"""`MeasurementCallback`: the Trainer plumbing shared by every peft-efficiency callback.

A concern (parameters, throughput, memory, energy, FLOPs) subclasses it and fills in a few hooks:
`start`, `step_begin`, `step_end`, `phase_changed`, `measure`, `carry_state`/`restore_state`.
The base class turns Trainer events into those hooks, puts the figures into `logs` (so they reach
`state.log_history`, the `report_to` backends and the metrics `train()` returns) and into the run report.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from peft_efficiency.callbacks.session import STATE_FILENAME, RunSession, find_trainer, move_before_reporters
from peft_efficiency.report import write_report

logger = logging.getLogger("peft_efficiency")
FINAL_LOG_KEY = "train_runtime"  # the Trainer's last log of train() carries it


class MeasurementCallback(TrainerCallback):
    """Base of the peft-efficiency callbacks (see the module docstring). Not used directly."""

    name = "base"

    def __init__(self) -> None:
        # internal state
        self.session: RunSession | None = None
        self.training = False
        self.finalized = False

    # -- hooks a concern fills in -------------------------------------------------------------------------
    def start(self, args: Any, state: Any, model: Any) -> None:
        """Training begins (heavy set-up goes here, not in __init__)."""

    def step_begin(self) -> None: ...

    def step_end(self) -> None: ...

    def phase_changed(self, phase: str) -> None:
        """Training switches between "train" and "eval"."""

    def measure(self, final: bool, collective: bool) -> dict[str, Any]:
        """Update this concern's report section(s) and return `efficiency/...` figures for the logs."""
        return {}

    def carry_state(self) -> dict[str, Any]:
        """Totals to store in a checkpoint so a resumed run continues them (collective)."""
        return {}

    def restore_state(self, saved: dict[str, Any]) -> None: ...

    def checkpoint_saved(self, checkpoint_dir: Path) -> None:
        """The Trainer has just written `checkpoint_dir`."""

    def collect_local_on_abort(self) -> None:
        """train() raised: record this process's figures so far, without collective calls."""
        self.measure(final=True, collective=False)

    # -- Trainer events -----------------------------------------------------------------------------------
    def parts(self) -> list["MeasurementCallback"]:
        return [self]

    def _session(self, args: Any) -> RunSession:
        if self.session is None:
            self.session = RunSession.for_args(args)
        return self.session

    def on_init_end(self, args, state, control, **kwargs):
        trainer = find_trainer(self)
        if trainer is not None:
            self._session(args).bind_trainer(trainer, self)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        session = self._session(args)
        if session.trainer is None:  # added with trainer.add_callback(): bind now (no train() wrapper then)
            trainer = find_trainer(self)
            if trainer is not None:
                move_before_reporters(trainer, self)
        session.begin(args, state, model)
        saved = self._read_carried_state(session)
        self.training, self.finalized = True, False
        for part in self.parts():
            if part not in session.participants:
                session.participants.append(part)
            part.session, part.training, part.finalized = session, True, False
            part.start(args, state, model)
            if saved is not None:
                part.restore_state(saved.get(part.name, {}))
            if args.eval_on_start:
                part.phase_changed("eval")
        session.write()

    def _read_carried_state(self, session: RunSession) -> dict[str, Any] | None:
        if session.resume_checkpoint is None:
            return None
        path = Path(session.resume_checkpoint) / STATE_FILENAME
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            session.run["resume_note"] = (f"{path} is missing or unreadable (checkpoint written without peft-efficiency?): "
                                          "time, token and energy totals start again at this session")
            return None
        session.run["sessions"] = int(saved.get("sessions", 1)) + 1
        session.run["started_at"] = saved.get("started_at", session.run.get("started_at"))
        return saved

    def on_step_begin(self, args, state, control, **kwargs):
        for part in self.parts():
            part.step_begin()

    def on_step_end(self, args, state, control, **kwargs):
        for part in self.parts():
            part.step_end()
        self._after_training_event(control, logging_next=control.should_log)

    def on_epoch_end(self, args, state, control, **kwargs):
        self._after_training_event(control, logging_next=control.should_log)

    def _after_training_event(self, control: Any, logging_next: bool) -> None:
        if self.session is None or not self.training:
            return
        self.session.clock.mark()
        if control.should_evaluate and not logging_next:
            for part in self.parts():
                part.phase_changed("eval")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.session is None or logs is None or not self.training:
            return
        if any(key.startswith("eval_") for key in logs):  # evaluate()'s own log, inside the evaluation
            return
        final = FINAL_LOG_KEY in logs
        figures = self._measure_all(final=final, collective=True)
        inject(logs, state, figures)
        self.session.write()
        if not final:
            self._after_training_event(control, logging_next=False)

    def _measure_all(self, final: bool, collective: bool) -> dict[str, Any]:
        figures: dict[str, Any] = {}
        if final and self.session is not None:
            self.session.clock.stop()
        for part in self.parts():
            try:
                figures.update(part.measure(final=final, collective=collective))
            except Exception as exc:  # noqa: BLE001 - measurement never breaks training
                logger.warning("peft-efficiency: %s failed to measure (%s: %s); its figures are left out", part.name, type(exc).__name__, exc)
        if final:
            self.finalized = True
        return figures

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.session is None or metrics is None:
            return
        self.session.record_eval(state, metrics)
        if self.training and self.session.clock.running:
            for part in self.parts():
                part.phase_changed("train")
        self.session.write()

    def on_save(self, args, state, control, **kwargs):
        if self.session is None or not self.training:
            return
        self.session.record_save(state)
        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        for part in self.parts():
            part.checkpoint_saved(checkpoint)
        carried = {part.name: part.carry_state() for part in self.parts()}
        self._write_carried_state(checkpoint, carried, state)
        self.session.write()

    def _write_carried_state(self, checkpoint: Path, carried: dict[str, Any], state: Any) -> None:
        if not state.is_world_process_zero or not checkpoint.is_dir():
            return
        path = checkpoint / STATE_FILENAME
        try:
            existing = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except ValueError:
            existing = {}
        existing.update(carried, sessions=self.session.run.get("sessions", 1), started_at=self.session.run.get("started_at"))
        try:
            write_report(path, existing)
        except OSError as exc:
            logger.warning("peft-efficiency: cannot store totals in %s (%s); a resumed run restarts them", path, exc)

    def on_train_end(self, args, state, control, **kwargs):
        if self.session is None or not self.training:
            return
        if not self.finalized:  # a loop that never logged the final metrics
            self._measure_all(final=True, collective=True)
        self.training = False
        self.session.finish(state)


def inject(logs: dict[str, Any], state: Any, figures: dict[str, Any]) -> None:
    """Put figures into this log: `logs` (backends, train() metrics) and the entry the Trainer already appended."""
    figures = {k: v for k, v in figures.items() if v is not None}
    if not figures:
        return
    history = state.log_history
    last = history[-1] if history else None
    matches = isinstance(last, dict) and all(last.get(k) is v or last.get(k) == v for k, v in logs.items())
    logs.update(figures)
    if matches:
        last.update(figures)
