"""Pieces every recipe's train.py uses: TrainingArguments from the settings, the EfficiencyCallback (one line),
and the `main` wrapper that turns user-caused errors into one clear message and exit status 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from peft_efficiency.recipe_kit.args import energy_enabled, max_steps
from peft_efficiency.recipe_kit.config import RecipeConfig
from peft_efficiency.recipe_kit.models import model_label


def _user_errors() -> tuple[type[BaseException], ...]:
    from peft_efficiency.data import DataFileError, DataUnavailableError
    from peft_efficiency.methods import MethodError, MethodUnavailableError
    from peft_efficiency.recipe_kit.models import ModelLoadError

    return (MethodError, MethodUnavailableError, DataFileError, DataUnavailableError, ModelLoadError)


def training_arguments(config: RecipeConfig, args: argparse.Namespace, output_dir: Path, *, run_name: str,
                       evaluate_each_epoch: bool = True, args_cls: Any = None, **extra: Any):
    """`TrainingArguments` (or `args_cls`, e.g. trl's SFTConfig) with the recipe settings and no checkpoints."""
    from transformers import TrainingArguments

    args_cls = args_cls or TrainingArguments

    steps = max_steps(args)
    per_epoch = evaluate_each_epoch and steps < 0
    extra.setdefault("use_cpu", cpu_processes())
    return args_cls(
        output_dir=str(output_dir),
        run_name=run_name,
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        weight_decay=config.weight_decay,
        eval_strategy="epoch" if per_epoch else "no",
        logging_strategy="epoch" if per_epoch else "steps",
        logging_steps=1 if not per_epoch else 500,
        save_strategy="no",
        report_to=[],
        seed=args.seed,
        dataloader_num_workers=0,
        disable_tqdm=True,
        **extra,
    )


def cpu_processes() -> bool:
    """True when this is one of several processes (WORLD_SIZE > 1) and no CUDA GPU is visible.

    The Trainer then needs `use_cpu=True` to join the processes over gloo; without it each CPU process trains
    alone on all the data and believes it is rank 0 (accelerate launch --multi_gpu and torchrun alike).
    """
    import os

    import torch

    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()


def settings_labels(config: RecipeConfig, args: argparse.Namespace) -> dict[str, str]:
    """The run's training settings as labels, so that `compare` never merges runs that differ in one as repeats.

    The data settings (`data_seed`, `max_length`, `train_size`, `eval_size`) are part of what is measured and
    separate groups; how the method trained (`learning_rate`, `epochs`, `batch_size`, `max_steps`,
    `method_options`) keeps runs in one group but apart from each other's repeats (see compare/identity.py)."""
    labels = {"data_seed": args.data_seed, "max_length": config.max_length, "train_size": config.train_size,
              "eval_size": config.eval_size, "learning_rate": config.learning_rate, "epochs": config.epochs,
              "batch_size": config.batch_size, "max_steps": max_steps(args),
              "method_options": json.dumps(config.method_options, sort_keys=True) if config.method_options else None}
    return {key: str(value) for key, value in labels.items() if value is not None and value != -1}


def efficiency_callback(config: RecipeConfig, args: argparse.Namespace, *, recipe: str, task: str, entry: str,
                        quality_metric: str, greater_is_better: bool = True, labels: dict[str, str] | None = None):
    """The one line that attaches the measurement: EfficiencyCallback labelled with recipe, task and method."""
    from peft_efficiency import EfficiencyCallback

    default_name = f"smoke-tiny-{config.model}" if args.smoke and not args.model_path else config.model  # what ran
    return EfficiencyCallback(
        method=config.method, task=task, model_name=args.model_name or model_label(args.model_path, default_name),
        labels={"recipe": recipe, "entry": entry, "smoke": str(bool(args.smoke)).lower(),
                **settings_labels(config, args), **(labels or {})},
        quality_metric=quality_metric, greater_is_better=greater_is_better,
        energy=energy_enabled(args), country_iso_code=args.country_iso_code,
    )


def recipe_main(run: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Call `run(argv)`; a user-caused error (bad method, data, model) prints `error: ...` and returns 2."""
    try:
        return int(run(argv) or 0)
    except _user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def describe_run(config: RecipeConfig, entry: str, output_dir: Path, model: Any, model_path: str | None = None) -> None:
    """One line on stdout saying what is about to train."""
    from peft_efficiency.params import count_parameters

    counts = count_parameters(model)  # 4-bit weights counted as parameters, not as packed bytes
    trainable, total = counts.trainable, counts.total
    print(f"[{entry}] method={config.method} model={model_path or config.model} trainable={trainable:,}/{total:,} "
          f"lr={config.learning_rate} epochs={config.epochs} batch={config.batch_size} -> {output_dir}", flush=True)
