"""`MemoryCallback`: peak memory of every process during training."""

from __future__ import annotations

from typing import Any

from peft_efficiency.callbacks.base import MeasurementCallback
from peft_efficiency.callbacks.measure import Measure
from peft_efficiency.trackers.distributed import gather_objects, rank
from peft_efficiency.trackers.memory import MemoryPeaks, MemoryTracker, summarize_peaks


class MemoryCallback(MeasurementCallback):
    """Peak memory from train begin on, per process.

    Measures: on CUDA, peak allocated and peak reserved bytes (`torch.cuda.reset_peak_memory_stats` at train
    begin); everywhere, peak resident set size (Linux: the kernel's VmHWM high-water mark, reset at train begin;
    elsewhere psutil samples at step ends). Every rank's peaks go into the report; `efficiency/peak_memory_bytes`
    in the logs is the max over ranks of CUDA peak allocated on GPU, of peak RSS otherwise.

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
        self.tracker.start(getattr(args, "device", None))

    def step_end(self) -> None:
        if self.tracker.needs_sampling:
            self.tracker.sample()

    def measure(self, final: bool, collective: bool) -> dict[str, Any]:
        mine = self.tracker.peaks(rank())
        per_rank = [MemoryPeaks(**p) for p in gather_objects(mine.to_dict())] if collective else [mine]
        section = summarize_peaks(per_rank)
        if not collective:
            section["unavailable"]["per_rank"] = "train() failed: only this process's peaks were collected"
        self.session.update("memory", section)
        return {"efficiency/peak_memory_bytes": section["peak_memory_bytes"], "efficiency/peak_rss_bytes": section["peak_rss_bytes"]}
