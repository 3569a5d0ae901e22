"""`MeasurementCallback`: the Trainer plumbing shared by every peft-efficiency callback.

A callback holds measures (`peft_efficiency.callbacks.measure.Measure`: parameters, throughput, memory, energy,
FLOPs). At `on_train_begin` the first peft-efficiency callback of the Trainer opens the run session for
`args.output_dir` on that train() call's TrainerState; every other one adds its measures to it. The session's
owner then turns each Trainer event into measure hooks once, puts the figures into `logs` (so they reach
`state.log_history`, the `report_to` backends and the metrics `train()` returns; which figures each log carries:
`log_selection`) and writes the run report.
The end of a run is `on_train_end`, or the class-level `Trainer.train` wrapper (see `attach`) when train() raises.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from peft_efficiency.callbacks.attach import SESSION_ATTRIBUTE, install_train_wrapper
from peft_efficiency.callbacks.carried_state import problems_in, read_carried_state, write_carried_state
from peft_efficiency.callbacks.evaluation_only import merge_evaluation, record_evaluation_in_folder
from peft_efficiency.callbacks.measure import Measure
from peft_efficiency.callbacks.options import check_flag, env_flag
from peft_efficiency.callbacks.session import RunSession
from peft_efficiency.versions import check_supported

logger = logging.getLogger("peft_efficiency")
LAST_EVALUATION_ATTRIBUTE = "_peft_efficiency_last_evaluation"  # on the TrainerState: one record per evaluation


class MeasurementCallback(TrainerCallback):
    """Base of the peft-efficiency callbacks (see the module docstring). Not used directly.

    Args:
        measures: the concerns this callback measures.
        log_all_figures: every figure in every training log; default: $PEFT_EFFICIENCY_LOG_ALL_FIGURES, else False
            (figures that cannot change are logged once, see `peft_efficiency.callbacks.log_selection`).
    """

    def __init__(self, measures: list[Measure], log_all_figures: bool | None = None) -> None:
        check_supported()  # an out-of-range transformers, peft, trl...: one message now, not a traceback in train()
        self.log_all_figures = (env_flag("LOG_ALL_FIGURES", False) if log_all_figures is None
                                else check_flag("log_all_figures", log_all_figures))
        # internal state
        self.measures = measures
        self.resume_checkpoint: str | None = None  # told by the train() wrapper, used at the next train begin
        self.trainer_class: type | None = None  # told by the train() wrapper: what the samples are, whether it generates
        self.reference_model: Any = None  # told by the train() wrapper (trl's ref_model), handed to the session once
        self.open_session: RunSession | None = None  # the session this callback owns, until it ends
        install_train_wrapper()

    # -- what a subclass may add --------------------------------------------------------------------------
    def describe_run(self, args: Any, state: Any, model: Any, session: RunSession) -> None:
        """Labels, quality metric and environment of a new session (EfficiencyCallback fills them in)."""

    def describe_folder(self, args: Any, state: Any, model: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(labels, params section, environment section) for the report of a folder where no training ran."""
        return {}, {}, {}

    # -- sessions -----------------------------------------------------------------------------------------
    def _owned_session(self, state: Any) -> RunSession | None:
        session = getattr(state, SESSION_ATTRIBUTE, None)
        return session if session is not None and session.owner is self and session.training else None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        began = time.perf_counter()
        output_dir = os.path.abspath(str(args.output_dir or "trainer_output"))
        session = getattr(state, SESSION_ATTRIBUTE, None)
        if session is None or not session.training or session.output_dir != output_dir:
            if self.open_session is not None:  # the Trainer restarted its inner loop (auto_find_batch_size)
                self.open_session.drop()
            session = RunSession(output_dir, owner=self, is_main=bool(state.is_world_process_zero))
            self.open_session = session
            setattr(state, SESSION_ATTRIBUTE, session)
            session.begin(args, state, model, self.trainer_class, self.reference_model)
            self._open_resumed(session, state)
        self.resume_checkpoint = None
        self.reference_model = None  # the session holds it until the run ends; the callback never does
        session.log_selection.log_all |= self.log_all_figures  # any of the session's callbacks may ask for every figure
        started = [m for m in self.measures if session.join(m, args, state, model)]
        session.refresh_step_hooks()
        self._restore(session, started)
        if args.eval_on_start:
            session.phase = "eval"
        if session.phase != "train":
            for measure in started:
                measure.phase_changed(session.phase)
        self.describe_run(args, state, model, session)
        session.restart_clock(state)
        session.write()
        session.startup_seconds += time.perf_counter() - began

    def _open_resumed(self, session: RunSession, state: Any) -> None:
        if state.global_step <= 0:
            return
        checkpoint = self.resume_checkpoint or str(Path(session.output_dir) / f"checkpoint-{state.global_step}")
        session.run["resumed_from_checkpoint"] = checkpoint
        saved, note = read_carried_state(checkpoint, self.measures)
        if note is not None:
            session.run["resume_note"] = note
            return
        session.carried = saved
        session.run["sessions"] = int(saved.get("sessions", 1)) + 1
        session.run["started_at"] = saved.get("started_at") or session.run["started_at"]

    def _restore(self, session: RunSession, started: list[Measure]) -> None:
        saved = session.carried
        if saved is None:
            return
        for measure in started:
            problems = problems_in(saved, [measure])
            if problems:
                session.run["resume_note"] = f"checkpoint totals of {measure.name} not used: {'; '.join(problems)}"
                continue
            measure.restore_state(saved.get(measure.name, {}))

    # -- training events ----------------------------------------------------------------------------------
    def on_step_begin(self, args, state, control, **kwargs):
        session = self._owned_session(state)
        if session is not None:
            began = now = time.perf_counter()  # one clock reading serves the step timer and the overhead figure
            if session.phase != "train":
                switch_phase(session, "train")  # evaluation (of one or several eval sets) is over
                now = time.perf_counter()
            for step_begin in session.step_begin_hooks:
                step_begin(now)
            session.step_events_seconds += time.perf_counter() - began

    def on_step_end(self, args, state, control, model=None, optimizer=None, **kwargs):
        session = self._owned_session(state)
        if session is not None:
            began = now = time.perf_counter()  # the step's end for the step timer, the phase clock and the write check
            for step_end in session.step_end_hooks:
                step_end(now)
            session.note_step(state)
            if session.live_objects_wanted:  # once per session: after the first optimizer step (and a resume)
                for measure in session.measures:
                    if measure.wants_live_objects:
                        give_live_objects(measure, model, optimizer, state.global_step)
                session.live_objects_wanted = any(m.wants_live_objects for m in session.measures)
                now = time.perf_counter()
                session.state_read_seconds += now - began
            if session.write_due(now) and not control.should_log:  # no log for a write interval: the figures so far
                self._measure_all(session, final=False, collective=False)
                session.write()
                now = time.perf_counter()
            self._after_training_event(session, control, logging_next=control.should_log, now=now)
            session.step_events_seconds += time.perf_counter() - began

    def on_epoch_end(self, args, state, control, **kwargs):
        session = self._owned_session(state)
        if session is not None:
            self._after_training_event(session, control, logging_next=control.should_log)

    @staticmethod
    def _after_training_event(session: RunSession, control: Any, logging_next: bool, now: float | None = None) -> None:
        session.clock.mark(now)
        if control.should_evaluate and not logging_next:
            switch_phase(session, "eval")
        elif control.should_save and not logging_next:
            switch_phase(session, "save")  # energy of checkpoint saving booked apart, like its time

    def on_log(self, args, state, control, logs=None, **kwargs):
        session = self._owned_session(state)
        if session is None or logs is None or any(key.startswith("eval_") for key in logs):
            return  # (evaluate()'s own log is made inside the evaluation)
        began = time.perf_counter()
        # Logs after training was told to stop (DefaultFlowCallback at max_steps, or early stopping): the last step's
        # and train()'s own, whose metrics go to the backends; they get a provisional energy reading. The measurement
        # ends at on_train_end (or on the crash path), never at a key seen in a log; there the clock is set back to
        # the last of these logs, train()'s own, so best-model loading and checkpoint clean-up are not training.
        session.log_after_stop = bool(control.should_training_stop)
        if session.log_after_stop:
            session.clock.loop_may_be_over()
        figures = self._measure_all(session, final=False, collective=False)  # a log may be made on one rank only
        session.note_step(state)
        inject(logs, state, session.log_selection.select(figures, logs))
        session.final_logs = logs
        session.write(throttled=not session.log_after_stop)
        self._after_training_event(session, control, logging_next=False)
        session.log_seconds += time.perf_counter() - began

    @staticmethod
    def _measure_all(session: RunSession, final: bool, collective: bool) -> dict[str, Any]:
        figures: dict[str, Any] = {}
        if final:
            session.clock.stop(at_loop_end=True)
        for measure in session.measures:
            try:
                figures.update(measure.measure(final=final, collective=collective))
            except Exception as exc:  # noqa: BLE001 - measurement never breaks training
                logger.warning("peft-efficiency: %s failed to measure (%s: %s); its figures are left out", measure.name, type(exc).__name__, exc)
        overhead = session.overhead()
        session.update("overhead", overhead)
        figures["efficiency/overhead_seconds"] = overhead["overhead_seconds"]
        if overhead["overhead_share"] is not None:
            figures["efficiency/overhead_percent"] = 100.0 * overhead["overhead_share"]
        return figures

    def on_save(self, args, state, control, **kwargs):
        session = self._owned_session(state)
        if session is None or not session.record_save(state):
            return
        began = time.perf_counter()
        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        for measure in session.measures:
            measure.checkpoint_saved(checkpoint)
        carried = {measure.name: measure.carry_state() for measure in session.measures}
        if state.is_world_process_zero and checkpoint.is_dir():
            write_carried_state(checkpoint, {**carried, "sessions": session.run.get("sessions", 1),
                                             "started_at": session.run.get("started_at")})
        session.write()
        session.clock.save_seconds += time.perf_counter() - began  # our checkpoint work is saving, not training
        session.clock.mark()
        switch_phase(session, "train")

    def on_train_end(self, args, state, control, **kwargs):
        session = self._owned_session(state)
        if session is None:
            return
        figures = self._measure_all(session, final=True, collective=True)
        if session.final_logs is not None:
            inject(session.final_logs, state, figures)
        session.finish(state)

    # -- evaluation ---------------------------------------------------------------------------------------
    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        self._evaluation(args, state, metrics, model)
        session = self._owned_session(state)
        if session is not None and control.should_save:
            switch_phase(session, "save")  # the checkpoint after this evaluation

    def on_predict(self, args, state, control, metrics=None, model=None, **kwargs):
        self._evaluation(args, state, metrics, model, counted=False)

    def _evaluation(self, args: Any, state: Any, metrics: dict[str, Any] | None, model: Any, counted: bool = True) -> None:
        if metrics is None or getattr(state, LAST_EVALUATION_ATTRIBUTE, None) is metrics:
            return  # another peft-efficiency callback of this Trainer has recorded it
        setattr(state, LAST_EVALUATION_ATTRIBUTE, metrics)
        session = getattr(state, SESSION_ATTRIBUTE, None)
        if session is not None and session.training:
            session.record_eval(state, metrics, counted)  # energy stays on "eval" until training resumes (more eval sets)
            session.write()
        elif session is not None:  # after train() in the same process: the finished session is the report
            merge_evaluation(session.sections, state, metrics)
            session.write()
        else:
            record_evaluation_in_folder(args, state, metrics, lambda: self.describe_folder(args, state, model))


class PhaseEndMarker(TrainerCallback):
    """The Trainer's last callback (placed by the train() wrapper): what other callbacks did in on_evaluate and
    on_save after ours is their time, booked apart (`time.other_callbacks_seconds`), not evaluation, saving or
    training."""

    def on_evaluate(self, args, state, control, **kwargs):
        self._others_done(state)

    def on_save(self, args, state, control, **kwargs):
        self._others_done(state)

    @staticmethod
    def _others_done(state: Any) -> None:
        session = getattr(state, SESSION_ATTRIBUTE, None)
        if session is not None and session.training:
            session.clock.others_done()


def give_live_objects(measure: Measure, model: Any, optimizer: Any, step: int) -> None:
    """Hand the Trainer's model and optimizer to `measure` (no reference kept here); a failure stops the reading."""
    try:
        measure.live_objects(model, optimizer, step)
    except Exception as exc:  # noqa: BLE001 - measurement never breaks training
        measure.wants_live_objects = False
        logger.warning("peft-efficiency: %s could not read the model and optimizer (%s: %s); its figures from them are left out",
                       measure.name, type(exc).__name__, exc)


def switch_phase(session: RunSession, phase: str) -> None:
    """Move every measure to `phase` ("train", "eval" or "save") if the session is not there already."""
    session.switch_phase(phase)


def inject(logs: dict[str, Any], state: Any, figures: dict[str, Any]) -> None:
    """Put figures into this log: `logs` (backends, train() metrics) and the entry the Trainer appended for it."""
    figures = {k: v for k, v in figures.items() if v is not None}
    if not figures:
        return
    for entry in reversed(state.log_history[-3:]):
        if isinstance(entry, dict) and all(entry.get(k) is v or entry.get(k) == v for k, v in logs.items() if k != "step"):
            entry.update(figures)
            break
    logs.update(figures)
