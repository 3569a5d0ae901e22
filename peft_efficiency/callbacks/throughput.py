"""`ThroughputCallback`: training time without evaluation and saving, step-time statistics, samples/s, tokens/s."""

from __future__ import annotations

from typing import Any, Callable

import torch

from peft_efficiency.callbacks.base import MeasurementCallback
from peft_efficiency.callbacks.carried_state import is_count, is_dict, is_number
from peft_efficiency.callbacks.measure import Measure
from peft_efficiency.callbacks.options import check_non_negative_int
from peft_efficiency.trackers.input_kinds import samples_meaning
from peft_efficiency.trackers.timing import StepTimer


class ThroughputCallback(MeasurementCallback):
    """Times training and counts what it processed.

    Measures: `efficiency/train_seconds` (wall time inside train() minus evaluation, checkpoint saving and
    generation, which are reported apart as `eval_seconds`/`save_seconds`/`generation_seconds`; continued across
    resumes), optimizer-step time median and p90 (on_step_begin to on_step_end, the first `warmup_steps` left out;
    CUDA events on GPU, read only at logging boundaries), `efficiency/samples_per_second` and
    `efficiency/tokens_per_second` (training samples and tokens counted from each forward pass with gradients,
    summed over all processes, over train_seconds; pairs for preference trainers; image patches or audio frames
    for such inputs, absent where no token is defined), and for trainers that generate while training
    `efficiency/generation_seconds` and `efficiency/generation_tokens_per_second`.

    Args:
        warmup_steps: leading optimizer steps excluded from the step-time statistics (reported apart).
        log_all_figures: every figure in every training log; default: $PEFT_EFFICIENCY_LOG_ALL_FIGURES, else False.

    Example: `Trainer(..., callbacks=[ThroughputCallback(warmup_steps=2)])`
    """

    def __init__(self, warmup_steps: int = 1, log_all_figures: bool | None = None) -> None:
        super().__init__([ThroughputMeasure(check_non_negative_int("warmup_steps", warmup_steps))], log_all_figures)


class ThroughputMeasure(Measure):
    """The time and throughput figures of `ThroughputCallback` (per-log work does not grow with the run)."""

    name = "time"
    required_carried_keys = ("train_seconds", "eval_seconds", "save_seconds", "samples", "tokens", "steps", "step_time")

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
                "tokens": is_count, "steps": is_count, "step_time": is_dict, "generation_seconds": is_number,
                "generated_tokens": is_count, "generation_calls": is_count}

    def step_hooks(self) -> tuple[Callable[[float], None], Callable[[float], None]]:
        """The step timer's own methods: no call in between."""
        return self.timer.step_begin, self.timer.step_end

    def _counts(self, collective: bool) -> tuple[int, int]:
        samples, tokens = self.session.counts(collective)
        return samples + int(self.prior.get("samples", 0)), tokens + int(self.prior.get("tokens", 0))

    def _seconds(self, name: str, this_session: float) -> float:
        return float(self.prior.get(name, 0.0)) + this_session

    def carry_state(self) -> dict[str, Any]:
        samples, tokens = self._counts(collective=True)
        clock = self.session.clock
        step_time = self.timer.to_state()
        generation = self.session.generation_tally(collective=True)
        return {
            "train_seconds": self._seconds("train_seconds", clock.train_seconds()),
            "eval_seconds": self._seconds("eval_seconds", clock.eval_seconds),
            "save_seconds": self._seconds("save_seconds", clock.save_seconds),
            "samples": samples, "tokens": tokens, "steps": step_time["steps"], "step_time": step_time,
            "generation_seconds": self._seconds("generation_seconds", clock.generation_seconds),
            "generated_tokens": int(generation.generated_tokens) + int(self.prior.get("generated_tokens", 0)),
            "generation_calls": int(generation.calls) + int(self.prior.get("generation_calls", 0)),
        }

    def measure(self, final: bool, collective: bool) -> dict[str, Any]:
        clock = self.session.clock
        train_seconds = self._seconds("train_seconds", clock.train_seconds())
        samples, tokens = self._counts(collective)
        self.totals = {"samples": samples, "tokens": tokens}
        steps = self.timer.summary()
        described = self.session.counter.describe()
        unavailable = {f"{name}_per_second": reason for name, reason in described["unavailable"].items() if name != "flops"}
        if "samples_per_second" in unavailable and (self.prior.get("samples") or not self.timer.timed_steps):
            unavailable.pop("samples_per_second")  # counted before the resume, or no step ran: nothing was trained
        if "tokens_per_second" not in unavailable and not tokens:
            unavailable["tokens_per_second"] = "no training tokens were seen"
        samples = None if "samples_per_second" in unavailable else samples
        tokens = None if "tokens_per_second" in unavailable and (tokens or self.timer.timed_steps) else tokens
        per_second = (lambda n: n / train_seconds if n is not None and train_seconds > 0 else None)
        trainer = self.session.trainer
        section = {
            "train_seconds": train_seconds,
            "eval_seconds": self._seconds("eval_seconds", clock.eval_seconds),
            "save_seconds": self._seconds("save_seconds", clock.save_seconds),
            "evaluations": clock.evaluations, "saves": clock.saves,
            "other_callbacks_seconds": clock.other_callbacks_seconds,
            **steps,
            "samples": samples, "tokens": tokens, "counts_scope": self.session.counts_scope,
            "samples_per_second": per_second(samples), "tokens_per_second": per_second(tokens),
            "trainer": trainer.name, "samples_are": samples_meaning(described["input_kinds"], trainer.samples_are),
            "tokens_are": described["tokens_are"],
            "input_kinds": described["input_kinds"],
            **self._generation(collective, clock),
            "unavailable": unavailable,
        }
        self.session.update("time", section)
        return {
            "efficiency/train_seconds": train_seconds,
            "efficiency/eval_seconds": section["eval_seconds"],
            "efficiency/samples_per_second": section["samples_per_second"],
            "efficiency/tokens_per_second": section["tokens_per_second"],
            "efficiency/step_seconds_median": section["step_seconds_median"],
            "efficiency/step_seconds_p90": section["step_seconds_p90"],
            "efficiency/generation_seconds": section.get("generation_seconds"),
            "efficiency/generation_tokens_per_second": section.get("generation_tokens_per_second"),
        }

    def _generation(self, collective: bool, clock: Any) -> dict[str, Any]:
        """The generation phase's figures (trainers that generate while training; none otherwise)."""
        tally = self.session.generation_tally(collective)
        calls = int(tally.calls) + int(self.prior.get("generation_calls", 0))
        if not calls and not self.session.trainer.generates:
            return {}
        seconds = self._seconds("generation_seconds", clock.generation_seconds)
        generated = int(tally.generated_tokens) + int(self.prior.get("generated_tokens", 0))
        wall = clock.elapsed_seconds() + float(self.prior.get("train_seconds", 0.0)) + float(self.prior.get("eval_seconds", 0.0)) \
            + float(self.prior.get("save_seconds", 0.0)) + float(self.prior.get("generation_seconds", 0.0))
        return {
            "generation_seconds": seconds, "generation_calls": calls, "generated_tokens": generated,
            "generation_prompt_tokens": int(tally.prompt_tokens), "generation_rows": int(tally.rows),
            "generation_tokens_per_second": generated / seconds if seconds > 0 and calls else None,
            "generation_share": seconds / wall if wall > 0 and calls else None,
            "generation_note": self.session.generation_problem or (
                "generate() calls during training, outside train_seconds; generated tokens: each row's new tokens "
                "up to and including its first EOS" if calls else
                f"{self.session.trainer.name} generates while training, but no transformers generate() call was seen "
                "(vLLM or another engine is not measured)"),
        }
