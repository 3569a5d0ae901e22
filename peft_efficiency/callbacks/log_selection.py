"""Which `efficiency/*` figures a Trainer log carries: what changes at every log, what cannot change once.

Every log still measures everything (the run report keeps every figure); only what enters the log is chosen:

- `ONCE_FIGURES` cannot change during a run: the parameter counts (counted at train begin) and the training
  state in bytes (read once, at the end of the first optimizer step). Each enters the first log where it is
  known (not null), then no middle-of-run log again (under several processes that log holds this process's
  training state, as every middle-of-run log did; `train()`'s metrics hold the sum over processes).
- `EVERY_LOG_FIGURES`, at most 8, change while training runs and are what a middle-of-run log is read for: how
  far the measured training time has come (`train_seconds`), throughput (`samples_per_second`,
  `tokens_per_second`), the time an optimizer step takes (`step_seconds_median`), the training memory peak
  (`peak_memory_bytes`), the work done and how well the device does it (`flops`, `mfu`; `mfu` is null, hence
  absent, where the device's peak is unknown, e.g. CPU) and energy so far (`energy_joules`, read at the logs
  after training was told to stop).
- Every other figure (evaluation's and generation's time, memory and energy, step-time p90, RSS peak,
  activation peak, carbon, hardware FLOPs utilisation, the plugin's overhead) is in `train()`'s final metrics and
  the report. Evaluation logs carry the Trainer's own `eval_*` metrics and no figure.

`train()`'s own log (the one with `train_runtime`) carries every figure, so its metrics and the backends end
with the full set. `log_all_figures` (or $PEFT_EFFICIENCY_LOG_ALL_FIGURES) puts every figure in every log.
"""

from __future__ import annotations

from typing import Any

ONCE_FIGURES = frozenset({
    "efficiency/trainable_params", "efficiency/total_params", "efficiency/trainable_percent",
    "efficiency/weights_bytes", "efficiency/gradients_bytes", "efficiency/optimizer_state_bytes",
    "efficiency/training_state_bytes",
})
EVERY_LOG_FIGURES = (
    "efficiency/train_seconds", "efficiency/samples_per_second", "efficiency/tokens_per_second",
    "efficiency/step_seconds_median", "efficiency/peak_memory_bytes", "efficiency/flops", "efficiency/mfu",
    "efficiency/energy_joules",
)
FINAL_LOG_MARK = "train_runtime"  # in train()'s own log of its metrics (transformers' speed_metrics("train", ...))


class LogSelection:
    """The figures one run session puts into each training log (see the module docstring).

    Args:
        log_all: every figure in every log.
    """

    def __init__(self, log_all: bool = False) -> None:
        self.log_all = log_all
        # internal state
        self.logged_once: set[str] = set()  # the ONCE_FIGURES already in a log of this session

    def select(self, figures: dict[str, Any], logs: dict[str, Any]) -> dict[str, Any]:
        """The part of `figures` (measured for the log `logs`) that enters that log; nulls are left out."""
        known = {key: value for key, value in figures.items() if value is not None}
        if self.log_all or FINAL_LOG_MARK in logs:
            self.logged_once.update(key for key in known if key in ONCE_FIGURES)
            return known
        first_time = (ONCE_FIGURES & known.keys()) - self.logged_once
        self.logged_once |= first_time
        return {key: value for key, value in known.items() if key in EVERY_LOG_FIGURES or key in first_time}
