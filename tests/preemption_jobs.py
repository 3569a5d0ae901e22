"""A slow training job for the preemption tests, run in a fresh process:

    python tests/preemption_jobs.py OUTPUT_DIR PLUGIN HANDLER [WRITE_INTERVAL]

PLUGIN: "plugin" (EfficiencyCallback attached, energy on) or "plain". HANDLER: the process's SIGTERM handler before
training: "default", "exit3" (raises SystemExit(3)) or "stop" (asks the Trainer to stop at the next step).
WRITE_INTERVAL: the report's write interval in seconds (the plugin's 30 s by default). Prints "READY <step>" at
each step end from step 2 on, then sleeps 0.1 s per step.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from transformers import Trainer, TrainerCallback  # noqa: E402

from foundation_helpers import classification_dataset, tiny_bert, training_args  # noqa: E402


class SlowSteps(TrainerCallback):
    def __init__(self) -> None:
        self.stop_requested = False

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= 2:
            print(f"READY {state.global_step}", flush=True)
        if self.stop_requested:
            control.should_training_stop = True
        time.sleep(0.1)


def main(output_dir: str, plugin: str, handler: str, interval: str | None = None) -> None:
    slow = SlowSteps()
    if handler == "exit3":
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(3))
    elif handler == "stop":
        signal.signal(signal.SIGTERM, lambda signum, frame: setattr(slow, "stop_requested", True))
    callbacks: list = [slow]
    if plugin == "plugin":
        from peft_efficiency import EfficiencyCallback
        from peft_efficiency.callbacks import session

        if interval is not None:
            session.REPORT_INTERVAL_SECONDS = float(interval)
        callbacks.append(EfficiencyCallback(measure_power_seconds=0.5))
    args = training_args(output_dir, max_steps=400, logging_steps=1000, per_device_train_batch_size=2)
    Trainer(model=tiny_bert(), args=args, train_dataset=classification_dataset(24), callbacks=callbacks).train()
    print("DONE", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
