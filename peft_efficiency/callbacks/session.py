"""One training run's shared state: the report being built, the clock and the batch counter, the trainer hook-up.

Every peft-efficiency callback on the same `output_dir` shares one `RunSession`, so callbacks used alone or
together write one report. Session-level work (run status, quality, writing) is idempotent per Trainer event,
because several standalone callbacks may forward the same event.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from peft_efficiency.report import REPORT_FILENAME, REPORT_SCHEMA_VERSION, write_report
from peft_efficiency.trackers.distributed import gather_objects, world_size
from peft_efficiency.trackers.timing import PhaseClock
from peft_efficiency.trackers.tokens import BatchCounter

logger = logging.getLogger("peft_efficiency")
STATE_FILENAME = "efficiency_state.json"
_SESSIONS: dict[str, "RunSession"] = {}


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def find_trainer(callback: Any) -> Any | None:
    """The Trainer whose callback handler holds `callback`, found on the call stack of a Trainer event."""
    frame = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        handler = getattr(candidate, "callback_handler", None)
        if handler is not None and any(cb is callback for cb in getattr(handler, "callbacks", [])):
            return candidate
        frame = frame.f_back
    return None


def move_before_reporters(trainer: Any, callback: Any) -> None:
    """Place `callback` right after DefaultFlowCallback, so that it sees the flow decisions (should_log,
    should_evaluate) of a step and its figures are in `logs` before the report_to integrations read them."""
    callbacks = trainer.callback_handler.callbacks
    callbacks.remove(callback)
    position = next((i + 1 for i, cb in enumerate(callbacks) if type(cb).__name__ == "DefaultFlowCallback"), 0)
    callbacks.insert(position, callback)


class RunSession:
    """The report of one output_dir, and the services its callbacks share."""

    def __init__(self, output_dir: str) -> None:
        self.output_dir = output_dir
        self.report_file = Path(output_dir) / REPORT_FILENAME
        self.trainer: Any = None
        self.resume_checkpoint: str | None = None
        self._began_state: Any = None
        self._write_warned = False
        self.reset()

    def reset(self) -> None:
        """Forget everything measured: a new train() call starts a new report."""
        self.labels: dict[str, Any] = {"method": None, "task": None, "model_name": None, "labels": {}}
        self.sections: dict[str, dict[str, Any]] = {name: {} for name in ("params", "time", "memory", "energy", "flops", "environment")}
        self.sections["quality"] = {"primary_metric": None, "greater_is_better": None, "eval": {}, "history": []}
        self.run: dict[str, Any] = {"status": "running", "error": None}
        self.clock = PhaseClock()
        self.counter = BatchCounter()
        self.is_main = True
        self.participants: list[Any] = []
        self._last_eval_metrics: Any = None
        self._last_save_step: int | None = None
        self._counts_cache: tuple[tuple[bool, int], tuple[int, int]] | None = None

    @classmethod
    def for_args(cls, args: Any) -> "RunSession":
        key = os.path.abspath(str(getattr(args, "output_dir", None) or "trainer_output"))
        if key not in _SESSIONS:
            _SESSIONS[key] = cls(key)
        return _SESSIONS[key]

    # -- trainer hook-up --------------------------------------------------------------------------------
    def bind_trainer(self, trainer: Any, callback: Any) -> None:
        """Wrap `trainer.train` once (status on exceptions, resume folder) and reorder `callback`."""
        move_before_reporters(trainer, callback)
        if self.trainer is trainer:
            return
        self.trainer = trainer
        original = trainer.train
        if getattr(original, "_peft_efficiency_wrapped", False):
            return

        @functools.wraps(original)
        def train(*args: Any, **kwargs: Any) -> Any:
            check_trainable(trainer.model)
            self.resume_checkpoint = resolve_checkpoint(kwargs.get("resume_from_checkpoint", args[0] if args else None), trainer.args.output_dir)
            try:
                return original(*args, **kwargs)
            except KeyboardInterrupt as exc:
                self.abort("interrupted", exc)
                raise
            except BaseException as exc:
                self.abort("failed", exc)
                raise

        train._peft_efficiency_wrapped = True  # type: ignore[attr-defined]
        trainer.train = train

    # -- events -------------------------------------------------------------------------------------------
    def begin(self, args: Any, state: Any, model: Any) -> bool:
        """Start a training session once per train() call; True for the caller that started it."""
        if self._began_state is state and self.clock.running:
            return False
        self.counter.detach()
        self.reset()
        self._began_state = state
        self.is_main = bool(state.is_world_process_zero)
        self.clock.start()
        self.counter.attach(model)
        self.run.update(status="running", error=None, started_at=utc_now(), ended_at=None, output_dir=self.output_dir,
                        run_name=getattr(args, "run_name", None), world_size=world_size(), global_step=state.global_step,
                        resumed_from_checkpoint=None, sessions=1)
        if state.global_step > 0:
            self.resume_checkpoint = self.resume_checkpoint or str(Path(self.output_dir) / f"checkpoint-{state.global_step}")
            self.run["resumed_from_checkpoint"] = self.resume_checkpoint
        else:
            self.resume_checkpoint = None
        return True

    def counts(self, collective: bool) -> tuple[int, int]:
        """(samples, tokens) of this session, summed over processes when `collective` (a gather).

        Cached until this process's sample count moves, so the callbacks measuring at one boundary share one
        gather. Every process sees the same steps between boundaries, so all hit or miss the cache together.
        """
        samples, tokens = self.counter.read()
        key = (collective, samples)
        if self._counts_cache is not None and self._counts_cache[0] == key:
            return self._counts_cache[1]
        if collective:
            gathered = gather_objects((samples, tokens))
            samples, tokens = sum(g[0] for g in gathered), sum(g[1] for g in gathered)
        self._counts_cache = (key, (samples, tokens))
        return samples, tokens

    def record_eval(self, state: Any, metrics: dict[str, Any]) -> bool:
        """Keep an evaluation's metrics; False if this exact evaluation was already recorded."""
        if metrics is self._last_eval_metrics:
            return False
        self._last_eval_metrics = metrics
        quality = self.sections["quality"]
        numeric = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        quality["eval"] = numeric
        quality["history"].append({"step": state.global_step, "epoch": state.epoch, **numeric})
        self.clock.evaluation_done()
        return True

    def record_save(self, state: Any) -> bool:
        if self._last_save_step == state.global_step:
            return False
        self._last_save_step = state.global_step
        self.clock.save_done()
        return True

    def finish(self, state: Any) -> None:
        self.counter.detach()
        self.clock.stop()
        self.run.update(status="completed", ended_at=utc_now(), global_step=state.global_step, epoch=state.epoch)
        self.write()

    def abort(self, status: str, exc: BaseException) -> None:
        """train() raised: collect what each callback has (no collectives), then write the report."""
        if self.run.get("status") != "running":
            return
        for participant in self.participants:
            try:
                participant.collect_local_on_abort()
            except Exception as inner:  # noqa: BLE001 - the original exception matters more
                logger.warning("peft-efficiency: %s could not collect figures after the error: %s", type(participant).__name__, inner)
        self.counter.detach()
        self.clock.stop()
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        self.run.update(status=status, error=message, ended_at=utc_now())
        self.write()

    # -- report -------------------------------------------------------------------------------------------
    def update(self, section: str, data: dict[str, Any]) -> None:
        self.sections.setdefault(section, {}).update(data)

    def report(self) -> dict[str, Any]:
        return {"schema_version": REPORT_SCHEMA_VERSION, "run": {**self.run, **self.labels}, **self.sections}

    def write(self) -> None:
        """Write the report atomically from the main process; a failure is reported once, never raised."""
        if not self.is_main:
            return
        try:
            write_report(self.report_file, self.report())
        except OSError as exc:
            if not self._write_warned:
                self._write_warned = True
                message = (f"peft-efficiency: cannot write the run report {self.report_file} ({exc.strerror or exc}); "
                           "training goes on and the figures are still in train() metrics and the logs. "
                           "Fix: make output_dir writable or choose another output_dir.")
                logger.warning(message)
                warnings.warn(message, RuntimeWarning, stacklevel=2)


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
