"""Visible progress: one timestamped line per demo step, flushed at once."""

from __future__ import annotations

import sys
import time


class Progress:
    """Prints `[demo 01:23 | 2/6] message`; `total` is the number of announced steps.

    Example: `p = Progress(total=3); p.step("training lora"); p.note("saved")`
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.start = time.perf_counter()

    def elapsed_seconds(self) -> float:
        return time.perf_counter() - self.start

    def _clock(self) -> str:
        minutes, seconds = divmod(int(self.elapsed_seconds()), 60)
        return f"{minutes:02d}:{seconds:02d}"

    def step(self, message: str) -> None:
        self.done += 1
        print(f"\n[demo {self._clock()} | {self.done}/{self.total}] {message}", flush=True, file=sys.stdout)

    def note(self, message: str) -> None:
        print(f"[demo {self._clock()}] {message}", flush=True, file=sys.stdout)
