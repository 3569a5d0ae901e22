"""`MemoryCallback`: peak memory of every process during training, evaluation apart."""

from __future__ import annotations

from typing import Any

from peft_efficiency.callbacks.base import MeasurementCallback
from peft_efficiency.callbacks.measure import Measure
from peft_efficiency.trackers.distributed import gather_objects, rank
from peft_efficiency.trackers.memory import MemoryPeaks, MemoryTracker, cuda_parameter_devices, summarize_peaks


class MemoryCallback(MeasurementCallback):
    """Peak memory from train begin on, per process, training and evaluation apart.

    Measures: on CUDA, peak allocated and peak reserved bytes of every visible device; everywhere, peak resident
    set size (Linux: the kernel's VmHWM high-water mark; elsewhere psutil samples at training step ends). Peaks are
    reset at train begin and at each switch between training and evaluation (`torch.cuda.reset_peak_memory_stats`,
    /proc/self/clear_refs), so what evaluation holds (a larger eval batch, logits, `compute_metrics`) is reported
    as its own figure and never raises the training peak. Every rank's peaks, and each CUDA device's, go into the
    report. In the logs, `efficiency/peak_memory_bytes` is the training peak: the max over ranks of each rank's
    CUDA peak allocated summed over the devices its model's parameters live on, on GPU; of peak RSS otherwise.
    `efficiency/eval_peak_memory_bytes` is the same for evaluation (absent when no evaluation ran).

    Example: `Trainer(..., callbacks=[MemoryCallback()])`
    """

    def __init__(self) -> None:
        super().__init__([MemoryMeasure()])


class MemoryMeasure(Measure):
    """The memory peaks of `MemoryCallback`."""

    name = "memory"

    def __init__(self) -> None:
        super().__init__()
        # internal state
        self.tracker = MemoryTracker()

    def start(self, args: Any, state: Any, model: Any) -> None:
        self.tracker = MemoryTracker()
        devices = cuda_parameter_devices(model) if model is not None else set()
        self.tracker.start(getattr(args, "device", None), devices)

    def step_end(self) -> None:
        if self.tracker.needs_sampling:
            self.tracker.sample()

    def phase_changed(self, phase: str) -> None:
        self.tracker.switch_phase(phase)

    def measure(self, final: bool, collective: bool) -> dict[str, Any]:
        mine = self.tracker.peaks(rank())
        per_rank = [MemoryPeaks(**p) for p in gather_objects(mine.to_dict())] if collective else [mine]
        section = summarize_peaks(per_rank)
        if not collective:
            section["unavailable"]["per_rank"] = f"only rank {mine.rank}'s peaks: read without a collective call (a log, or train() failed)"
        self.session.update("memory", section)
        return {"efficiency/peak_memory_bytes": section["peak_memory_bytes"], "efficiency/peak_rss_bytes": section["peak_rss_bytes"],
                "efficiency/eval_peak_memory_bytes": section["eval_peak_memory_bytes"],
                "efficiency/eval_peak_rss_bytes": section["eval_peak_rss_bytes"]}
