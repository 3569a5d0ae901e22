"""SIGTERM during `train()` (preemption, a job's time limit): the report says `interrupted`, with the signal, the step
reached and every figure so far, and the process ends as it would have without the plugin.

While a run session lasts, its main thread's SIGTERM handler is `TerminationGuard`: it notes the signal in the
report at once (no measuring inside a signal handler), then
- chains to the handler that was there before (the user's, accelerate's...), which may raise or let training go on;
- or, where that was the default action (terminate), raises `RunTerminated`, a BaseException like KeyboardInterrupt:
  train() unwinds, the train() wrapper ends the session (trackers stopped, report written) and re-delivers the
  signal with the default action, so the exit status is the signal's, as without the plugin.
A SIGTERM that was ignored stays ignored. Threads other than the main one cannot install handlers: there the
guard does nothing.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Callable

TERMINATING_SIGNAL = signal.SIGTERM


class RunTerminated(BaseException):
    """Raised by the guard where SIGTERM's action was to terminate: ends train() like Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"{signal.Signals(signum).name} received: the process was told to terminate")


class TerminationGuard:
    """The SIGTERM handler of one run session (see the module docstring)."""

    def __init__(self, on_signal: Callable[[int], None]) -> None:
        self.on_signal = on_signal
        self.previous: Any = None
        self.installed = False

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(TERMINATING_SIGNAL)
        if previous in (signal.SIG_IGN, None):  # ignored (or set outside Python): leave it so
            return
        self.previous = previous
        signal.signal(TERMINATING_SIGNAL, self._handle)
        self.installed = True

    def _handle(self, signum: int, frame: Any) -> None:
        try:
            self.on_signal(signum)
        finally:
            previous = self.previous
            if callable(previous):
                previous(signum, frame)
            else:
                raise RunTerminated(signum)

    def remove(self) -> None:
        """Put the earlier handler back, unless someone has replaced ours since."""
        if not self.installed:
            return
        self.installed = False
        if threading.current_thread() is threading.main_thread() and signal.getsignal(TERMINATING_SIGNAL) == self._handle:
            signal.signal(TERMINATING_SIGNAL, self.previous)
        self.previous = None


def redeliver(exc: BaseException) -> None:
    """After `RunTerminated` has unwound train(): end the process by the signal's default action."""
    if isinstance(exc, RunTerminated) and threading.current_thread() is threading.main_thread():
        signal.signal(exc.signum, signal.SIG_DFL)
        os.kill(os.getpid(), exc.signum)
