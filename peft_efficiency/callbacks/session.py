"""`RunSession`: one train() call's report, clock and batch counter, and the measures that fill the report.

A session is created at `on_train_begin` for that call's `args.output_dir` and lives on the call's TrainerState
(attribute `SESSION_ATTRIBUTE`), so every peft-efficiency callback of that Trainer finds the same one and nothing
is kept process-wide: when the user drops the Trainer, the session goes with it. It holds no Trainer or model:
the batch counters' hooks and the generation listener are removed when the run ends, however it ends.

What counts as training (see `peft_efficiency.trackers.tokens`): forwards with gradients enabled. A reference
model the trainer holds apart (`ref_model`) is counted by a second counter while training runs; `generate()`
calls during training are the generation phase (`peft_efficiency.trackers.generation`): their time, energy and
tokens are booked apart from training's.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import time
import warnings
import weakref
from dataclasses import fields
from pathlib import Path
from typing import Any

from peft_efficiency.callbacks.log_selection import LogSelection
from peft_efficiency.callbacks.termination import TerminationGuard
from peft_efficiency.report import REPORT_FILENAME, REPORT_SCHEMA_VERSION, earlier_stages, keep_earlier_stage, write_report
from peft_efficiency.trackers.distributed import all_reduce_sum, world_size
from peft_efficiency.trackers.generation import GenerationTally, install_generate_wrapper, listen, read_call
from peft_efficiency.trackers.timing import PhaseClock
from peft_efficiency.trackers.tokens import BatchCounter, BatchCounts
from peft_efficiency.trackers.trainer_kinds import TrainerKind, trainer_kind

logger = logging.getLogger("peft_efficiency")
SECTIONS = ("params", "time", "memory", "energy", "flops", "overhead", "environment")
REPORT_INTERVAL_SECONDS = 30.0  # the longest a training run goes without a report write (logs or step ends)


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def empty_quality() -> dict[str, Any]:
    return {"primary_metric": None, "greater_is_better": None, "eval": {}, "history": []}


class RunSession:
    """The report of one train() call into `output_dir`, and the services its measures share."""

    def __init__(self, output_dir: str, owner: Any, is_main: bool) -> None:
        self.output_dir = output_dir
        self.report_file = Path(output_dir) / REPORT_FILENAME
        self.owner = owner  # the callback that dispatches events to every measure (the first to begin)
        self.is_main = is_main
        self.measures: list[Any] = []
        self.labels: dict[str, Any] = {"method": None, "task": None, "model_name": None, "labels": {}}
        self.sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        self.sections["quality"] = empty_quality()
        self.run: dict[str, Any] = {"status": "running", "error": None}
        self.clock = PhaseClock()
        self.counter = BatchCounter()
        self.reference_counter: BatchCounter | None = None  # the trainer's separate reference model, when it has one
        self.trainer = TrainerKind()
        self.generation = GenerationTally()
        self.generating = False
        self.generation_problem: str | None = None  # why generation figures are missing, when reading one failed
        self._generation_in_training = False
        self._listened: Any = None  # a weak reference to the model whose generate() calls are listened to
        self._reference: Any = None  # a weak reference to the trainer's separate reference model
        self.training = False
        self.phase = "train"
        self.carried: dict[str, Any] | None = None  # totals read from the resumed checkpoint
        self.log_after_stop = False  # the log being measured comes after training was told to stop (energy read too)
        self.final_logs: dict[str, Any] | None = None  # the latest training log: train()'s metrics at the end
        self.log_selection = LogSelection()  # which figures each training log carries
        self._last_eval_metrics: Any = None
        self._last_save_step: int | None = None
        self.counts_scope = "one process"
        self._counts_cache: tuple[tuple[bool, int], BatchCounts] | None = None
        self._generation_cache: tuple[tuple[bool, float, int], GenerationTally] | None = None
        self.step_begin_hooks: tuple[Any, ...] = ()  # the measures' step hooks that do something (refresh_step_hooks)
        self.step_end_hooks: tuple[Any, ...] = ()
        self.live_objects_wanted = False  # some measure waits for the model and optimizer at a step end
        self.step_events_seconds = 0.0  # the plugin's own work in Trainer step events while training (see `overhead`)
        self.state_read_seconds = 0.0  # of it: the one-off read of the training state after the first optimizer step
        self.log_seconds = 0.0  # its work at training logs (measuring, report writing)
        self.startup_seconds = 0.0  # its work at train begin (trackers starting), outside train_seconds
        self._last_write = float("-inf")
        self._write_warned = False
        self.guard = TerminationGuard(self.signal_received)

    # -- life cycle -----------------------------------------------------------------------------------------
    def begin(self, args: Any, state: Any, model: Any, trainer_class: type | None = None, reference_model: Any = None) -> None:
        self.training = True
        if self.is_main:
            self._keep_earlier_stages(resuming=state.global_step > 0)
        self.guard.install()
        self.trainer = trainer_kind(trainer_class)
        self.counter.attach(model)
        if reference_model is not None and reference_model is not model and hasattr(reference_model, "register_forward_pre_hook"):
            self.reference_counter = BatchCounter(training_only=False, split_untrained=False)
            self.reference_counter.attach(reference_model)
            self._reference = weakref.ref(reference_model)
        if model is not None:
            install_generate_wrapper()
            listen(model, self)
            self._listened = weakref.ref(model)
        self.run.update(status="running", error=None, started_at=utc_now(), ended_at=None, output_dir=self.output_dir,
                        run_name=getattr(args, "run_name", None), world_size=world_size(), global_step=state.global_step,
                        resumed_from_checkpoint=None, sessions=1)
        self.clock.start()

    def _keep_earlier_stages(self, resuming: bool) -> None:
        """An earlier run's report in this folder (a script that trains twice) is kept as a stage, never replaced."""
        try:
            kept = keep_earlier_stage(self.report_file, resuming=resuming)
            stages = earlier_stages(self.report_file) if kept or not resuming else []
        except OSError as exc:
            logger.warning("peft-efficiency: the earlier report in %s could not be kept aside (%s)", self.output_dir, exc)
            return
        if stages:
            self.run["previous_stages"] = stages
        if kept:
            logger.info("peft-efficiency: the earlier run's report in %s is kept as %s", self.output_dir, kept)

    def join(self, measure: Any, args: Any, state: Any, model: Any) -> bool:
        """Start `measure` in this session unless one of the same name is already here; True if started."""
        if any(m.name == measure.name for m in self.measures):
            return False
        measure.session = self
        measure.start(args, state, model)
        self.measures.append(measure)
        return True

    def refresh_step_hooks(self) -> None:
        """Keep only the step hooks that do something (`Measure.step_hooks`): a step event then costs a call per
        working hook."""
        hooks = [m.step_hooks() for m in self.measures]
        self.step_begin_hooks = tuple(begin for begin, _ in hooks if begin is not None)
        self.step_end_hooks = tuple(end for _, end in hooks if end is not None)
        self.live_objects_wanted = any(m.wants_live_objects for m in self.measures)

    def restart_clock(self, state: Any) -> None:
        """Set-up (measures starting, e.g. codecarbon's ~1 s) is not training time: restart before the first step."""
        if state.global_step == self.run.get("global_step") and self.clock.evaluations == 0:
            self.clock.start()

    def finish(self, state: Any) -> None:
        self._end()
        self.run.update(status="completed", ended_at=utc_now(), global_step=state.global_step, epoch=state.epoch)
        self.write()

    def drop(self) -> None:
        """The Trainer restarted its inner loop (auto_find_batch_size) with a new state: end this attempt's hooks,
        threads and handlers without a report write (the new attempt writes the folder's report)."""
        if self.training:
            self._end()

    def signal_received(self, signum: int) -> None:
        """SIGTERM (from the guard, inside the signal handler): note it and write the report as it stands."""
        self.run["signal"] = signal.Signals(signum).name
        self.write()

    def note_step(self, state: Any) -> None:
        self.run["global_step"] = state.global_step

    def write_due(self, now: float) -> bool:
        """Whether the report has gone REPORT_INTERVAL_SECONDS without a write at `now` (`time.perf_counter()`,
        checked at step ends)."""
        return self.is_main and now - self._last_write >= REPORT_INTERVAL_SECONDS

    def abort(self, status: str, exc: BaseException, state: Any) -> None:
        """train() raised: collect what each measure has (no collectives), end every tracker, write the report."""
        if not self.training:
            return
        self.clock.stop()
        for measure in self.measures:
            try:
                measure.collect_local_on_abort()
            except Exception as inner:  # noqa: BLE001 - the original exception matters more
                logger.warning("peft-efficiency: %s could not collect figures after the error: %s", measure.name, inner)
        self._end()
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self.run.get("signal") and self.run["signal"] not in message:  # e.g. a SIGTERM handler that exits
            message = f"{self.run['signal']} received, then {message}"
        self.run.update(status=status, error=message, ended_at=utc_now(), global_step=state.global_step, epoch=state.epoch)
        self.write()

    def _end(self) -> None:
        """Stop the clock and release every hook, tracker and signal handler (idempotent)."""
        self.training = False
        self.clock.stop()
        self.guard.remove()
        if getattr(self.owner, "open_session", None) is self:
            self.owner.open_session = None
        self.counter.detach()
        if self.reference_counter is not None:
            self.reference_counter.detach()
        self._reference = None
        model = self._listened() if self._listened is not None else None
        if model is not None:
            listen(model, None)
        self._listened = None
        for measure in self.measures:
            try:
                measure.close()
            except Exception as exc:  # noqa: BLE001 - releasing never breaks the user's program
                logger.warning("peft-efficiency: %s could not be closed: %s", measure.name, exc)

    # -- shared services ------------------------------------------------------------------------------------
    def batch_counts(self, collective: bool) -> BatchCounts:
        """What this session's training forward passes saw.

        `collective` (at checkpoints and at the end, where every process arrives): the exact sum over processes,
        one tensor all-reduce. Otherwise (logs, which a user may make on one process only): no collective call;
        with several processes, this process's counts times their number, an estimate `counts_scope` says so.
        """
        key = (collective, self.counter.forward_passes)
        if self._counts_cache is not None and self._counts_cache[0] == key:  # the measures of one boundary share it
            return self._counts_cache[1]
        mine = self.counter.read_counts()
        processes = world_size()
        if collective:
            total = BatchCounts(*all_reduce_sum([getattr(mine, f.name) for f in fields(BatchCounts)]))
            self.counts_scope = "sum over processes" if processes > 1 else "one process"
        elif processes > 1:
            total = BatchCounts(*(getattr(mine, f.name) * processes for f in fields(BatchCounts)))
            self.counts_scope = (f"estimate: this process's counts x {processes} processes "
                                 "(exact sums at checkpoints and at the end of training)")
        else:
            total, self.counts_scope = mine, "one process"
        self._counts_cache = (key, total)
        return total

    def counts(self, collective: bool) -> tuple[int, int]:
        """(samples, tokens) of this session: the examples trained on (sequences, packed documents each count; for
        preference trainers the pairs) and their tokens (non-padding; for other inputs see `input_kinds`)."""
        total = self.batch_counts(collective)
        return int(total.samples) // self.trainer.rows_per_sample, int(total.tokens)

    def summed(self, values: list[float], collective: bool) -> list[float]:
        """`values` of this process summed over processes (collective), or times their number (an estimate)."""
        if collective:
            return all_reduce_sum(values)
        return [value * world_size() for value in values]

    def untrained_counts(self, collective: bool) -> BatchCounts:
        """Forwards of the trained model in train mode with gradients off (reference or old-policy log-probs)."""
        untrained = self.counter.untrained.read_counts() if self.counter.untrained is not None else BatchCounts()
        return BatchCounts(*self.summed([getattr(untrained, f.name) for f in fields(BatchCounts)], collective))

    def reference_counts(self, collective: bool) -> BatchCounts | None:
        """Forwards of the trainer's separate reference model while training ran (None: it has none)."""
        if self.reference_counter is None:
            return None
        mine = self.reference_counter.read_counts()
        return BatchCounts(*self.summed([getattr(mine, f.name) for f in fields(BatchCounts)], collective))

    def reference_model(self) -> Any:
        """The trainer's separate reference model while the run lasts (None: it has none, or it is gone)."""
        return self._reference() if self._reference is not None else None

    def generation_tally(self, collective: bool) -> GenerationTally:
        """The generate() calls' sums; the measures of one boundary share one (collective) read."""
        key = (collective, self.generation.calls, self.counter.forward_passes)
        if self._generation_cache is None or self._generation_cache[0] != key:
            self._generation_cache = (key, GenerationTally(*self.summed(self.generation.as_list(), collective)))
        return self._generation_cache[1]

    # -- generation (called by the generate() wrapper) ------------------------------------------------------
    def generation_started(self) -> None:
        self.generating = True
        self._generation_in_training = self.training and self.phase == "train"  # in evaluation, it is evaluation
        self.counter.paused = True
        if self._generation_in_training:
            self.switch_phase("generation")

    def generation_finished(self, model: Any, args: tuple, kwargs: dict, output: Any, seconds: float) -> None:
        self.generating = False
        self.counter.paused = False
        if not self._generation_in_training:
            return
        self.clock.generation_done(seconds)
        try:
            read_call(self.generation, model, args, kwargs, output)
        except Exception as exc:  # noqa: BLE001 - measurement never breaks training
            self.generation_problem = f"a generate() output could not be read ({type(exc).__name__}: {exc})"
        self.switch_phase("train")

    def switch_phase(self, phase: str) -> None:
        """Move every measure to `phase` ("train", "eval", "save", "generation") if the session is not there already."""
        if self.phase == phase:
            return
        self.phase = phase
        if self.reference_counter is not None:
            self.reference_counter.paused = phase != "train"
        for measure in self.measures:
            measure.phase_changed(phase)

    def record_eval(self, state: Any, metrics: dict[str, Any], counted: bool = True) -> bool:
        """Keep an evaluation's metrics; False if this exact evaluation was already recorded. `counted` False: a
        predict() during training (nested in compute_metrics, or in a callback) is evaluation time, not an evaluation."""
        if metrics is self._last_eval_metrics:
            return False
        self._last_eval_metrics = metrics
        add_quality(self.sections["quality"], state, metrics)
        self.clock.evaluation_done(counted)
        return True

    def record_save(self, state: Any) -> bool:
        if self._last_save_step == state.global_step:
            return False
        self._last_save_step = state.global_step
        self.clock.save_done()
        return True

    # -- report -----------------------------------------------------------------------------------------------
    def update(self, section: str, data: dict[str, Any]) -> None:
        self.sections.setdefault(section, {}).update(data)

    def report(self) -> dict[str, Any]:
        sections = {name: data or not_measured(name) for name, data in self.sections.items()}
        return {"schema_version": REPORT_SCHEMA_VERSION, "run": {**self.run, **self.labels}, **sections}

    def overhead(self) -> dict[str, Any]:
        """The plugin's own cost while training, in all and by where it is spent: step events, logs, forward pre-hook."""
        hook_seconds = self.counter.hook_seconds + (self.reference_counter.hook_seconds if self.reference_counter else 0.0)
        seconds = self.step_events_seconds + self.log_seconds + hook_seconds
        train_seconds = self.clock.train_seconds()
        return {"overhead_seconds": seconds, "overhead_share": seconds / train_seconds if train_seconds > 0 else None,
                "step_events_seconds": self.step_events_seconds, "state_read_seconds": self.state_read_seconds,
                "log_seconds": self.log_seconds,
                "forward_hook_seconds": hook_seconds, "startup_seconds": self.startup_seconds}

    def write(self, throttled: bool = False) -> None:
        """Write the report atomically from the main process; a failure is reported once, never raised.

        `throttled` (at logs): at most once every REPORT_INTERVAL_SECONDS; begin, evaluation, checkpoint, end and
        the crash path always write.
        """
        if not self.is_main:
            return
        now = time.perf_counter()
        if throttled and now - self._last_write < REPORT_INTERVAL_SECONDS:
            return
        self._last_write = now
        interval = REPORT_INTERVAL_SECONDS if self.training else None
        self._write_warned = write_quietly(self.report_file, self.report(), self._write_warned, interval)


# A section no attached callback fills (e.g. ParameterCallback used alone): its figures null, with the reason.
NOT_MEASURED = {
    "params": ("ParameterCallback", {"trainable": None, "total": None}),
    "time": ("ThroughputCallback", {"train_seconds": None}),
    "memory": ("MemoryCallback", {"peak_memory_bytes": None}),
    "energy": ("EnergyCallback", {"status": "disabled", "energy_kwh": None, "co2_kg": None}),
    "flops": ("FlopsCallback", {"flops": None}),
}


def not_measured(section: str) -> dict[str, Any]:
    if section not in NOT_MEASURED:
        return {}
    callback, nulls = NOT_MEASURED[section]
    reason = f"not measured: no {callback} (or EfficiencyCallback) was attached"
    extra = {"reason": reason} if section == "energy" else {"unavailable": {"section": reason}}
    return {**nulls, **extra}


def add_quality(quality: dict[str, Any], state: Any, metrics: dict[str, Any], source: str | None = None) -> None:
    """Merge one evaluation's numeric metrics into a report's quality section (latest value per metric)."""
    numeric = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    quality.setdefault("eval", {}).update(numeric)
    entry = {"step": state.global_step, "epoch": state.epoch, **numeric}
    quality.setdefault("history", []).append({**entry, "source": source} if source else entry)


def write_quietly(path: Path, report: dict[str, Any], already_warned: bool, write_interval_seconds: float | None = None) -> bool:
    """Write `report`; on failure warn (once per caller) and go on. Returns whether a warning has been given."""
    try:
        write_report(path, report, write_interval_seconds=write_interval_seconds)
    except OSError as exc:
        if not already_warned:
            message = (f"peft-efficiency: cannot write the run report {path} ({exc.strerror or exc}); "
                       "training goes on and the figures are still in train() metrics and the logs. "
                       "Fix: make output_dir writable or choose another output_dir.")
            logger.warning(message)
            warnings.warn(message, RuntimeWarning, stacklevel=3)
        return True
    return already_warned
