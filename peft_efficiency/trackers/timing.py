"""Wall-clock bookkeeping of a training session: step times without per-step syncs, and eval/save time kept apart."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class StepTimer:
    """Times optimizer steps (on_step_begin to on_step_end).

    On CUDA it records events on the current stream and reads them only in `drain()` (called at logging
    boundaries), so no step waits for the GPU. Elsewhere it uses `time.perf_counter`.
    """

    def __init__(self, use_cuda_events: bool = False) -> None:
        self.use_cuda_events = use_cuda_events
        self.durations_seconds: list[float] = []
        self._begin: float | torch.cuda.Event | None = None
        self._pending: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []

    def step_begin(self) -> None:
        if self.use_cuda_events:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self._begin = event
        else:
            self._begin = time.perf_counter()

    def step_end(self) -> None:
        if self._begin is None:
            return
        if self.use_cuda_events:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            self._pending.append((self._begin, end))  # type: ignore[arg-type]
        else:
            self.durations_seconds.append(time.perf_counter() - self._begin)  # type: ignore[operator]
        self._begin = None

    def drain(self) -> list[float]:
        """Resolve pending CUDA events (one sync on the last one) and return all step durations so far."""
        if self._pending:
            self._pending[-1][1].synchronize()
            self.durations_seconds.extend(begin.elapsed_time(end) / 1000.0 for begin, end in self._pending)
            self._pending.clear()
        return self.durations_seconds


@dataclass
class PhaseClock:
    """Splits a session's wall time into training, evaluation and checkpoint saving.

    The Trainer gives no "evaluation begins" event, but it always evaluates and saves right after a step,
    epoch or log event. So the time from the last such event to `on_evaluate` is evaluation, and the time
    from the last event to `on_save` is saving; everything else between train begin and end is training.
    """

    started: float | None = None
    ended: float | None = None
    last_event: float = 0.0
    eval_seconds: float = 0.0
    save_seconds: float = 0.0
    evaluations: int = 0
    saves: int = 0
    clock: Callable[[], float] = time.perf_counter

    def start(self) -> None:
        self.started = self.last_event = self.clock()
        self.ended = None

    @property
    def running(self) -> bool:
        return self.started is not None and self.ended is None

    def mark(self) -> None:
        """A training event happened (step end, epoch end, log)."""
        if self.running:
            self.last_event = self.clock()

    def _since_last_event(self) -> float:
        now = self.clock()
        seconds, self.last_event = now - self.last_event, now
        return seconds

    def evaluation_done(self) -> None:
        if self.running:
            self.eval_seconds += self._since_last_event()
            self.evaluations += 1

    def save_done(self) -> None:
        if self.running:
            self.save_seconds += self._since_last_event()
            self.saves += 1

    def stop(self) -> None:
        if self.running:
            self.ended = self.clock()

    def elapsed_seconds(self) -> float:
        if self.started is None:
            return 0.0
        end = self.ended if self.ended is not None else self.clock()
        return end - self.started

    def train_seconds(self) -> float:
        return max(self.elapsed_seconds() - self.eval_seconds - self.save_seconds, 0.0)
