"""`Measure`: one measured concern (parameters, time, memory, energy, FLOPs) as a plain object a session drives.

A measure is not a Trainer callback: the peft-efficiency callback that owns the run session turns Trainer events
into these hooks for every measure of the session, once per event.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from peft_efficiency.callbacks.session import RunSession


class Measure:
    """Base of the measured concerns; each fills in the hooks it needs."""

    name = "base"
    wants_live_objects = False  # class default, so a measure that skips Measure.__init__ still has it
    required_carried_keys: tuple[str, ...] = ()  # a checkpoint's part lacking one of these is not continued at all

    def __init__(self) -> None:
        # internal state
        self.session: RunSession | None = None
        self.wants_live_objects = False  # True: give me the model and optimizer at the next optimizer step end


    def start(self, args: Any, state: Any, model: Any) -> None:
        """Training begins (heavy set-up goes here, not in __init__); `self.session` is set."""

    def step_begin(self, now: float) -> None:
        """An optimizer step begins at `now` (`time.perf_counter()`); only overriding measures are called."""

    def step_end(self, now: float) -> None:
        """An optimizer step ended at `now` (`time.perf_counter()`); only overriding measures are called."""

    def step_hooks(self) -> tuple[Callable[[float], None] | None, Callable[[float], None] | None]:
        """The callables the owner calls at every step begin and end (None: none), read when the session starts
        and when a measure asks (`session.refresh_step_hooks()`): by default the overridden `step_begin`/`step_end`.
        A measure may hand a tracker's own method instead, so a step costs one call per working hook."""
        cls = type(self)
        return (self.step_begin if cls.step_begin is not Measure.step_begin else None,
                self.step_end if cls.step_end is not Measure.step_end else None)

    def live_objects(self, model: Any, optimizer: Any, step: int) -> None:
        """An optimizer step has ended and `wants_live_objects` is True: read what is needed, keep no reference.

        The owner calls this at every step end while the flag is set, so a measure clears it once it has read
        (typically after the first step of each train() session, set again in `start`). `optimizer` is the
        Trainer's (possibly None when created lazily); `step` is `state.global_step`."""

    def phase_changed(self, phase: str) -> None:
        """The run moves to `phase`: "train", "eval" or "save" (checkpoint writing)."""

    def measure(self, final: bool, collective: bool) -> dict[str, Any]:
        """Update this concern's report section(s) and return `efficiency/...` figures for the logs."""
        return {}

    def carry_state(self) -> dict[str, Any]:
        """Totals to store in a checkpoint so a resumed run continues them (collective)."""
        return {}

    def restore_state(self, saved: dict[str, Any]) -> None:
        """Continue the totals of `saved` (already checked against `carried_state_schema`)."""

    def carried_state_schema(self) -> dict[str, Callable[[Any], bool]]:
        """A check per key `carry_state` writes (see `carried_state`); a checkpoint failing one is not used."""
        return {}

    def checkpoint_saved(self, checkpoint_dir: Path) -> None:
        """The Trainer has just written `checkpoint_dir`."""

    def collect_local_on_abort(self) -> None:
        """train() raised: record this process's figures so far, without collective calls."""
        self.measure(final=True, collective=False)

    def close(self) -> None:
        """Release what the measure holds (hooks, trackers); called at the end of every run, however it ended."""
