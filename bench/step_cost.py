"""The plugin's own per-step work, in CPU time of the training thread: EfficiencyCallback's step events
(on_step_begin + on_step_end) and its forward pre-hook (the counting path), on tiny BERT, batch 4, energy off.

CPU time of this thread (`time.thread_time`), not wall time: on a shared machine another process's load barely
moves it, where it doubles wall-clock figures. The first `--warmup` steps (the one-off training-state read at the
first optimizer step among them) are left out; the median over `--repeats` runs is printed with the range.

    python bench/step_cost.py
    PYTHONPATH=/path/to/other/checkout python bench/step_cost.py   # the same bench against another version
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import torch  # noqa: E402
from transformers import PrinterCallback, Trainer  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from foundation_helpers import classification_dataset, tiny_bert, training_args  # noqa: E402
from peft_efficiency import EfficiencyCallback  # noqa: E402
from peft_efficiency.callbacks import base  # noqa: E402
from peft_efficiency.trackers import tokens  # noqa: E402


class Meter:
    """Thread CPU time spent in the wrapped functions once `global_step` passed the warm-up."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.events, self.hook, self.steps, self.forwards, self.counting = warmup, 0.0, 0.0, 0, 0, False

    def wrap_events(self) -> None:
        for name in ("on_step_begin", "on_step_end"):
            original = getattr(base.MeasurementCallback, name)

            def event(callback, args, state, *rest, _original=original, _name=name, **kwargs):
                began = time.thread_time()
                result = _original(callback, args, state, *rest, **kwargs)
                self.counting = state.global_step >= self.warmup
                if self.counting:
                    self.events += time.thread_time() - began
                    self.steps += _name == "on_step_end"
                return result
            setattr(base.MeasurementCallback, name, event)

    def wrap_hook(self) -> None:
        original = tokens.BatchCounter._hook

        def hook(counter, *args, **kwargs):
            began = time.thread_time()
            result = original(counter, *args, **kwargs)
            if self.counting:
                self.hook += time.thread_time() - began
                self.forwards += 1
            return result
        tokens.BatchCounter._hook = hook


def one_run(steps: int, warmup: int) -> tuple[float, float]:
    meter = Meter(warmup)
    originals = (base.MeasurementCallback.on_step_begin, base.MeasurementCallback.on_step_end, tokens.BatchCounter._hook)
    meter.wrap_events()
    meter.wrap_hook()
    try:
        with tempfile.TemporaryDirectory() as folder:
            args = training_args(folder, max_steps=steps, logging_steps=10)
            trainer = Trainer(model=tiny_bert(), args=args, train_dataset=classification_dataset(64),
                              callbacks=[EfficiencyCallback(energy=False)])
            trainer.remove_callback(PrinterCallback)  # no log lines on the console
            trainer.train()
    finally:
        base.MeasurementCallback.on_step_begin, base.MeasurementCallback.on_step_end, tokens.BatchCounter._hook = originals
    return meter.events / meter.steps * 1e6, meter.hook / meter.forwards * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    hf_logging.set_verbosity_error()
    torch.set_num_threads(1)
    runs = [one_run(options.steps, options.warmup) for _ in range(options.repeats)]
    for label, values in (("step events, us/step", [r[0] for r in runs]), ("forward pre-hook, us/forward", [r[1] for r in runs]),
                          ("both, us/step (one forward per step)", [r[0] + r[1] for r in runs])):
        print(f"{label:40s} median {statistics.median(values):6.1f}  (min {min(values):.1f}, max {max(values):.1f})")
    print(f"peft_efficiency from {Path(base.__file__).resolve().parents[2]}")


if __name__ == "__main__":
    main()
