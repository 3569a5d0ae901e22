"""The figures into the metrics `train()` returns, also where the Trainer's `log` hands the callbacks a copy.

`Trainer.train()` ends with `self.log(metrics)` and returns `TrainOutput(..., metrics)`: the callbacks' `on_log`
puts the `efficiency/*` figures into that very dict, so they reach the returned metrics. A Trainer subclass whose
`log` merges its own metrics into a new dict before calling `Trainer.log` hands the callbacks that copy instead:
trl's SFTTrainer up to 0.19 does (`logs = {**logs, **metrics}`), so `train().metrics` came back without a figure
while the logs, the backends and the report had them all. The train() wrapper (`callbacks.attach`) calls
`carry_figures_into_train_output` once train() has returned, with the last log the session measured, which holds
the final figures (on_train_end put them there).
"""

from __future__ import annotations

from typing import Any

FIGURE_PREFIX = "efficiency/"


def carry_figures_into_train_output(output: Any, final_logs: dict[str, Any] | None) -> None:
    """Copy the `efficiency/*` figures of `final_logs` into `output.metrics` when they are not the same dict.

    Args:
        output: what `train()` returned (a `TrainOutput`; anything without a `metrics` dict is left alone).
        final_logs: the session's last training log, holding the figures measured at on_train_end.
    """
    metrics = getattr(output, "metrics", None)
    if not isinstance(metrics, dict) or not final_logs or metrics is final_logs:
        return
    metrics.update({key: value for key, value in final_logs.items() if key.startswith(FIGURE_PREFIX)})
