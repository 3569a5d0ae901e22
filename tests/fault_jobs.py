"""Jobs for the bad-input tests, each run in a fresh process: `python tests/fault_jobs.py JOB OUTPUT_DIR [ARG]`.

Each prints one JSON line of what it observed (the tests read the report files themselves).
"""

from __future__ import annotations

import gc
import json
import signal
import sys
import time
import weakref
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from transformers import Trainer, TrainerCallback  # noqa: E402

from foundation_helpers import classification_dataset, tiny_bert, training_args  # noqa: E402
from peft_efficiency import EfficiencyCallback  # noqa: E402


class RaiseAtStep(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise RuntimeError(f"injected fault at step {self.step}")


class SlowSteps(TrainerCallback):
    """Slow steps, so a real SIGINT from the parent lands in the middle of training."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 2:
            print("READY", flush=True)
        time.sleep(0.2)


def trainer(output_dir: str, callbacks: list, **args) -> Trainer:
    settings = dict(max_steps=6)
    settings.update(args)
    return Trainer(model=tiny_bert(), args=training_args(output_dir, **settings), train_dataset=classification_dataset(24),
                   eval_dataset=classification_dataset(8, seed=5), callbacks=callbacks)


def train(output_dir: str, steps: str = "6") -> dict:
    trainer(output_dir, [EfficiencyCallback(energy=False)], max_steps=int(steps)).train()
    return {}


def evaluate_only(output_dir: str) -> dict:
    metrics = trainer(output_dir, [EfficiencyCallback(energy=False)]).evaluate()
    return {"eval_loss": metrics["eval_loss"]}


def one_instance_two_trainers(output_dir: str) -> dict:
    callback = EfficiencyCallback(energy=False)
    trainer(str(Path(output_dir) / "first"), [callback], max_steps=2).train()
    trainer(str(Path(output_dir) / "second"), [callback], max_steps=3).train()
    return {}


def add_callback_crash(output_dir: str) -> dict:
    job = trainer(output_dir, [RaiseAtStep(3)])
    job.add_callback(EfficiencyCallback())
    try:
        job.train()
    except RuntimeError as exc:
        import threading

        from peft_efficiency.trackers.energy import SAMPLER_THREAD_NAME

        samplers = sum(thread.name == SAMPLER_THREAD_NAME for thread in threading.enumerate())
        return {"raised": str(exc), "energy_samplers_alive": samplers}
    return {"raised": None}


def add_callback_sigint(output_dir: str) -> dict:
    # A process started in the background by a non-interactive shell (a CI runner's `cmd &`) inherits SIGINT ignored,
    # and Python then raises no KeyboardInterrupt: take Python's own handler, as an interactive run has.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    job = trainer(output_dir, [SlowSteps()], max_steps=200)
    job.add_callback(EfficiencyCallback())
    job.train()
    return {}


def resume(output_dir: str, checkpoint: str) -> dict:
    job = trainer(output_dir, [EfficiencyCallback()], max_steps=6, save_strategy="steps", save_steps=2)
    job.train(resume_from_checkpoint=checkpoint)
    return {"global_step": job.state.global_step}


def save_every_two(output_dir: str, steps: str = "4") -> dict:
    trainer(output_dir, [EfficiencyCallback()], max_steps=int(steps), save_strategy="steps", save_steps=2).train()
    return {}


def two_runs_in_one_process(output_dir: str) -> dict:
    import resource

    alive = []
    for name in ("first", "second"):
        job = trainer(str(Path(output_dir) / name), [EfficiencyCallback(energy=False)], max_steps=2)
        job.train()
        alive.append(weakref.ref(job.model))
        del job
        gc.collect()
    return {"models_alive": sum(ref() is not None for ref in alive),
            "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


JOBS = {name: fn for name, fn in globals().items() if callable(fn) and name in {
    "train", "evaluate_only", "one_instance_two_trainers", "add_callback_crash", "add_callback_sigint", "resume",
    "save_every_two", "two_runs_in_one_process"}}

if __name__ == "__main__":
    print(json.dumps(JOBS[sys.argv[1]](*sys.argv[2:])), flush=True)
