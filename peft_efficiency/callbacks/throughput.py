"""`ThroughputCallback`: training time without evaluation and saving, step-time statistics, samples/s, tokens/s."""

from __future__ import annotations

from typing import Any, Callable

import torch

from peft_efficiency.callbacks.base import MeasurementCallback
from peft_efficiency.callbacks.carried_state import is_count, is_dict, is_number
from peft_efficiency.callbacks.measure import Measure
from peft_efficiency.callbacks.options import check_non_negative_int
from peft_efficiency.trackers.timing import StepTimer


class ThroughputCallback(MeasurementCallback):
    """Times training and counts what it processed.

    Measures: `efficiency/train_seconds` (wall time inside train() minus evaluation and checkpoint saving, which
    are reported apart as `eval_seconds`/`save_seconds`; continued across resumes), optimizer-step time median and
    p90 (on_step_begin to on_step_end, the first `warmup_steps` left out; CUDA events on GPU, read only at logging
    boundaries), `efficiency/samples_per_second` and `efficiency/tokens_per_second` (training samples and
    non-padding tokens counted from each forward pass, summed over all processes, over train_seconds).

    Args:
        warmup_steps: leading optimizer steps excluded from the step-time statistics (reported apart).

    Example: `Trainer(..., callbacks=[ThroughputCallback(warmup_steps=2)])`
    """

    def __init__(self, warmup_steps: int = 1) -> None:
        super().__init__([ThroughputMeasure(check_non_negative_int("warmup_steps", warmup_steps))])


class ThroughputMeasure(Measure):
    """The time and throughput figures of `ThroughputCallback` (per-log work does not grow with the run)."""

    name = "time"

    def __init__(self, warmup_steps: int = 1) -> None:
        super().__init__()
        self.warmup_steps = warmup_steps
        # internal state
        self.timer = StepTimer(warmup_steps=warmup_steps, keep_durations=False)
        self.prior: dict[str, Any] = {}
        self.totals: dict[str, int] = {"samples": 0, "tokens": 0}

    def start(self, args: Any, state: Any, model: Any) -> None:
        device = getattr(args, "device", torch.device("cpu"))
        use_cuda = getattr(device, "type", "cpu") == "cuda" and torch.cuda.is_available()
        self.timer = StepTimer(use_cuda_events=use_cuda, warmup_steps=self.warmup_steps, keep_durations=False)
        self.prior = {}

    def restore_state(self, saved: dict[str, Any]) -> None:
        self.prior = dict(saved)
        if isinstance(saved.get("step_time"), dict):
            try:
                self.timer.restore(saved["step_time"])
            except (KeyError, TypeError, ValueError) as exc:
                self.session.run["resume_note"] = f"step-time statistics of the checkpoint not used ({type(exc).__name__}: {exc})"

    def carried_state_schema(self) -> dict[str, Callable[[Any], bool]]:
        return {"train_seconds": is_number, "eval_seconds": is_number, "save_seconds": is_number, "samples": is_count,
                "tokens": is_count, "steps": is_count, "step_time": is_dict}

    def step_begin(self) -> None:
        self.timer.step_begin()

    def step_end(self) -> None:
        self.timer.step_end()

    def _counts(self, collective: bool) -> tuple[int, int]:
        samples, tokens = self.session.counts(collective)
        return samples + int(self.prior.get("samples", 0)), tokens + int(self.prior.get("tokens", 0))

    def _seconds(self, name: str, this_session: float) -> float:
        return float(self.prior.get(name, 0.0)) + this_session

    def carry_state(self) -> dict[str, Any]:
        samples, tokens = self._counts(collective=True)
        clock = self.session.clock
        step_time = self.timer.to_state()
        return {
            "train_seconds": self._seconds("train_seconds", clock.train_seconds()),
            "eval_seconds": self._seconds("eval_seconds", clock.eval_seconds),
            "save_seconds": self._seconds("save_seconds", clock.save_seconds),
            "samples": samples, "tokens": tokens, "steps": step_time["steps"], "step_time": step_time,
        }

    def measure(self, final: bool, collective: bool) -> dict[str, Any]:
        clock = self.session.clock
        train_seconds = self._seconds("train_seconds", clock.train_seconds())
        samples, tokens = self._counts(collective)
        self.totals = {"samples": samples, "tokens": tokens}
        steps = self.timer.summary()
        unavailable = {}
        per_second = (lambda n: n / train_seconds if train_seconds > 0 else None)
        section = {
            "train_seconds": train_seconds,
            "eval_seconds": self._seconds("eval_seconds", clock.eval_seconds),
            "save_seconds": self._seconds("save_seconds", clock.save_seconds),
            "evaluations": clock.evaluations, "saves": clock.saves,
            **steps,
            "samples": samples, "tokens": tokens, "counts_scope": self.session.counts_scope,
            "samples_per_second": per_second(samples), "tokens_per_second": per_second(tokens) if tokens else None,
            "unavailable": unavailable,
        }
        if not tokens:
            section["unavailable"]["tokens_per_second"] = "no input_ids/attention_mask seen in the training forward passes"
        self.session.update("time", section)
        return {
            "efficiency/train_seconds": train_seconds,
            "efficiency/eval_seconds": section["eval_seconds"],
            "efficiency/samples_per_second": section["samples_per_second"],
            "efficiency/tokens_per_second": section["tokens_per_second"],
            "efficiency/step_seconds_median": section["step_seconds_median"],
            "efficiency/step_seconds_p90": section["step_seconds_p90"],
        }
