"""`MemoryCallback`: peak memory of every process during training, evaluation apart, and the training state in bytes."""

from __future__ import annotations

import time
from typing import Any, Callable

from peft_efficiency.callbacks.base import MeasurementCallback
from peft_efficiency.callbacks.measure import Measure
from peft_efficiency.trackers.distributed import gather_objects, rank
from peft_efficiency.trackers.memory import MemoryPeaks, MemoryTracker, cuda_parameter_devices, summarize_peaks
from peft_efficiency.trackers.training_state import GradientProbe, read_training_state

STATE_PARTS = ("weights_bytes", "trainable_weights_bytes", "frozen_weights_bytes", "gradients_bytes",
               "optimizer_state_bytes", "training_state_bytes")
NOT_YET = "not read yet: no optimizer step has ended in this session"
LOG_READ_SECONDS = 1.0  # logs closer together than this reuse the last read (checkpoints, phase switches, end: always read)
CPU_ACTIVATIONS = ("CUDA only: without CUDA allocator statistics the peak is process RSS, which the Python/torch "
                   "runtime dominates, so peak minus training state would not be the activations")


class MemoryCallback(MeasurementCallback):
    """Peak memory from train begin on, per process, training and evaluation apart; and the training state.

    Measures: on CUDA, peak allocated and peak reserved bytes of every visible device; everywhere, peak resident
    set size (Linux: the kernel's VmHWM high-water mark; elsewhere psutil samples at training step ends). Peaks are
    reset at train begin and at each switch between training and evaluation (`torch.cuda.reset_peak_memory_stats`,
    /proc/self/clear_refs), so what evaluation holds (a larger eval batch, logits, `compute_metrics`) is reported
    as its own figure and never raises the training peak. Every rank's peaks, and each CUDA device's, go into the
    report. In the logs, `efficiency/peak_memory_bytes` is the training peak: the max over ranks of each rank's
    CUDA peak allocated summed over the devices its model's parameters live on, on GPU; of peak RSS otherwise.
    `efficiency/eval_peak_memory_bytes` is the same for evaluation (absent when no evaluation ran).

    The training state (`peft_efficiency.trackers.training_state`) is read once, from the live model and optimizer
    at the end of the first optimizer step of each train() session (so again after a resume):
    `efficiency/weights_bytes`, `efficiency/gradients_bytes`, `efficiency/optimizer_state_bytes` and their sum
    `efficiency/training_state_bytes`, summed over processes at checkpoints and at the end (this process's own at
    other logs). Logs less than LOG_READ_SECONDS apart repeat the figures of the last read (at `logging_steps=1`
    on fast steps reading at every step would cost more than the step's other bookkeeping); the peaks themselves
    are kept by the kernel and the allocator, so checkpoints, train/eval switches and the end read them exactly.
    `efficiency/activation_peak_bytes` (CUDA only) is the training CUDA peak allocated minus the
    training state, max over processes. A figure that cannot be read is absent; `memory.unavailable` says why.

    Args:
        log_all_figures: every figure in every training log; default: $PEFT_EFFICIENCY_LOG_ALL_FIGURES, else False.

    Example: `Trainer(..., callbacks=[MemoryCallback()])`
    """

    def __init__(self, log_all_figures: bool | None = None) -> None:
        super().__init__([MemoryMeasure()], log_all_figures)


class MemoryMeasure(Measure):
    """The memory peaks and the training state of `MemoryCallback`."""

    name = "memory"

    def __init__(self) -> None:
        super().__init__()
        # internal state
        self.tracker = MemoryTracker()
        self.probe = GradientProbe()
        self.training_state: dict[str, Any] | None = None  # TrainingState.to_dict(), read once per session
        self.wants_live_objects = False
        self.pending_reason = NOT_YET
        self._last_log: tuple[float, dict[str, Any]] | None = None  # (when a log last read the peaks, its figures)

    def start(self, args: Any, state: Any, model: Any) -> None:
        self.tracker = MemoryTracker()
        devices = cuda_parameter_devices(model) if model is not None else set()
        self.tracker.start(getattr(args, "device", None), devices)
        self.training_state, self.pending_reason, self._last_log = None, NOT_YET, None
        self.wants_live_objects = model is not None
        if model is not None:
            self.probe.attach()
        else:
            self.pending_reason = "the Trainer passed no model at train begin"

    def live_objects(self, model: Any, optimizer: Any, step: int) -> None:
        """The end of an optimizer step: read the training state once per session (no reference is kept)."""
        if optimizer is None or model is None:
            self.pending_reason = (f"no {'optimizer' if optimizer is None else 'model'} at the end of optimizer step "
                                   f"{step} (created lazily?); the training state is read at the first step end that has one")
            return
        if self.probe.waits_for(optimizer):
            self.pending_reason = (f"the optimizer has not stepped by the end of step {step} (a skipped step, e.g. fp16 "
                                   "overflow); the training state is read at the end of the first step it takes")
            return
        self.wants_live_objects, self._last_log = False, None
        self.training_state = read_training_state(model, optimizer, self.probe, rank=rank(), step=step).to_dict()

    def step_hooks(self) -> tuple[None, Callable[[float], None] | None]:
        """A step-end RSS sample only where the kernel's high-water mark cannot be reset (`needs_sampling`)."""
        return None, (self.step_end if self.tracker.needs_sampling else None)

    def step_end(self, now: float) -> None:
        self.tracker.sample()

    def phase_changed(self, phase: str) -> None:
        sampling = self.tracker.needs_sampling
        self.tracker.switch_phase(phase)
        self._last_log = None
        if self.tracker.needs_sampling != sampling and self.session is not None:  # fell back to sampling just now
            self.session.refresh_step_hooks()

    def measure(self, final: bool, collective: bool) -> dict[str, Any]:
        if not (final or collective) and self._last_log is not None and time.monotonic() - self._last_log[0] < LOG_READ_SECONDS:
            return dict(self._last_log[1])  # a log soon after the last read: its figures (and the section) stand
        mine = self.tracker.peaks(rank())
        my_state = self.training_state
        if collective:
            gathered = gather_objects({"peaks": mine.to_dict(), "state": my_state})
            per_rank, states = [MemoryPeaks(**g["peaks"]) for g in gathered], [g["state"] for g in gathered]
        else:
            per_rank, states = [mine], [my_state]
        section = summarize_peaks(per_rank)
        if not collective:
            section["unavailable"]["per_rank"] = f"only rank {mine.rank}'s peaks: read without a collective call (a log, or train() failed)"
        state_section = summarize_training_state(states, per_rank, collective, self.pending_reason)
        section["unavailable"].update(state_section.pop("unavailable"))
        section.update(state_section)
        self.session.update("memory", section)
        figures = {"efficiency/peak_memory_bytes": section["peak_memory_bytes"], "efficiency/peak_rss_bytes": section["peak_rss_bytes"],
                   "efficiency/eval_peak_memory_bytes": section["eval_peak_memory_bytes"],
                   "efficiency/eval_peak_rss_bytes": section["eval_peak_rss_bytes"]}
        figures.update({f"efficiency/{key}": section[key] for key in (*STATE_PARTS, "activation_peak_bytes")
                        if key not in ("trainable_weights_bytes", "frozen_weights_bytes")})
        self._last_log = None if collective else (time.monotonic(), dict(figures))
        return figures

    def close(self) -> None:
        self.probe.detach()


def _sum_or_none(values: list[int | None]) -> int | None:
    return None if not values or any(v is None for v in values) else sum(values)


def summarize_training_state(states: list[dict[str, Any] | None], peaks: list[MemoryPeaks], collective: bool,
                             pending_reason: str) -> dict[str, Any]:
    """The memory section's training-state figures: each summed over the processes given, with the reasons for gaps.

    `activation_peak_bytes`: max over processes of (CUDA training peak allocated - that process's training state).
    """
    section: dict[str, Any] = {"unavailable": {}}
    unavailable = section["unavailable"]
    read = [s for s in states if s is not None]
    for key in STATE_PARTS:
        section[key] = _sum_or_none([s.get(key) for s in states]) if len(read) == len(states) else None
        if section[key] is None:
            reasons = sorted({s["unavailable"][key] for s in read if key in s["unavailable"]})
            unavailable[key] = "; ".join(reasons) if reasons else pending_reason
    activations: list[int] = []
    for state, peak in zip(states, peaks):
        static = state.get("training_state_bytes") if state else None
        if peak.cuda_peak_allocated_bytes is not None and static is not None and peak.cuda_peak_allocated_bytes >= static:
            activations.append(peak.cuda_peak_allocated_bytes - static)
    section["activation_peak_bytes"] = max(activations) if activations and len(activations) == len(states) else None
    if section["activation_peak_bytes"] is None:
        if all(p.cuda_peak_allocated_bytes is None for p in peaks):
            unavailable["activation_peak_bytes"] = CPU_ACTIVATIONS
        elif section["training_state_bytes"] is None:
            unavailable["activation_peak_bytes"] = "needs training_state_bytes (see there)"
        else:
            unavailable["activation_peak_bytes"] = "the CUDA peak of some process is below its training state (peak read before the first step?)"
    by_key: dict[str, int] = {}
    for state in read:
        for key, value in state.get("optimizer_state_by_key", {}).items():
            by_key[key] = by_key.get(key, 0) + value
    processes = len(states)
    section["training_state"] = {
        "scope": (f"sum over {processes} processes" if processes > 1 else "one process") if collective
                 else f"rank {peaks[0].rank} only (read without a collective call: a log, or train() failed)",
        "measured_at_step": next((s["measured_at_step"] for s in read), None),
        "optimizer": next((s["optimizer"] for s in read if s.get("optimizer")), None),
        "optimizer_state_by_key": by_key,
        "per_rank": read,
        "method": "read once from the live model and optimizer at the end of the first optimizer step of each "
                  "train() session; gradients: the .grad tensors present when the optimizer stepped (optimizer step pre-hook)",
    }
    return section
