"""`ThroughputCallback`: training time without evaluation and saving, step-time statistics, samples/s, tokens/s."""

from __future__ import annotations

from typing import Any

import torch

from peft_efficiency.callbacks.base import MeasurementCallback
from peft_efficiency.trackers.timing import StepTimer, percentile


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

    name = "time"

    def __init__(self, warmup_steps: int = 1) -> None:
        super().__init__()
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.warmup_steps = warmup_steps
        # internal state
        self.timer = StepTimer()
        self.prior: dict[str, Any] = {}
        self.totals: dict[str, int] = {"samples": 0, "tokens": 0}

    def start(self, args: Any, state: Any, model: Any) -> None:
        device = getattr(args, "device", torch.device("cpu"))
        self.timer = StepTimer(use_cuda_events=getattr(device, "type", "cpu") == "cuda" and torch.cuda.is_available())
        self.prior = {}

    def restore_state(self, saved: dict[str, Any]) -> None:
        self.prior = dict(saved)

    def step_begin(self) -> None:
        self.timer.step_begin()

    def step_end(self) -> None:
        self.timer.step_end()

    def _counts(self, collective: bool) -> tuple[int, int]:
        samples, tokens = self.session.counts(collective)
        return samples + int(self.prior.get("samples", 0)), tokens + int(self.prior.get("tokens", 0))

    def _step_durations(self) -> tuple[list[float], list[float]]:
        earlier = [float(x) for x in self.prior.get("step_seconds", [])]
        current = list(self.timer.drain())
        return earlier + current[self.warmup_steps:], current[: self.warmup_steps]

    def carry_state(self) -> dict[str, Any]:
        samples, tokens = self._counts(collective=True)
        clock = self.session.clock
        steps, _ = self._step_durations()
        return {
            "train_seconds": float(self.prior.get("train_seconds", 0.0)) + clock.train_seconds(),
            "eval_seconds": float(self.prior.get("eval_seconds", 0.0)) + clock.eval_seconds,
            "save_seconds": float(self.prior.get("save_seconds", 0.0)) + clock.save_seconds,
            "samples": samples, "tokens": tokens, "step_seconds": [round(s, 6) for s in steps],
        }

    def measure(self, final: bool, collective: bool) -> dict[str, Any]:
        clock = self.session.clock
        train_seconds = float(self.prior.get("train_seconds", 0.0)) + clock.train_seconds()
        samples, tokens = self._counts(collective)
        self.totals = {"samples": samples, "tokens": tokens}
        steps, warmup = self._step_durations()
        unavailable = {} if collective else {"samples": "train() failed: other processes' counts could not be gathered"}
        per_second = (lambda n: n / train_seconds if train_seconds > 0 else None)
        section = {
            "train_seconds": train_seconds,
            "eval_seconds": float(self.prior.get("eval_seconds", 0.0)) + clock.eval_seconds,
            "save_seconds": float(self.prior.get("save_seconds", 0.0)) + clock.save_seconds,
            "evaluations": clock.evaluations, "saves": clock.saves,
            "steps": len(steps) + len(warmup), "warmup_steps": len(warmup),
            "warmup_step_seconds": warmup,
            "step_seconds_median": percentile(steps, 50), "step_seconds_p90": percentile(steps, 90),
            "samples": samples, "tokens": tokens,
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
