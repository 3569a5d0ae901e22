"""The shared body of the classification recipes (IMDb, Slovene BoolQ): model -> method -> Trainer -> report."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from transformers import (
    AutoModelForSequenceClassification,
    DataCollatorWithPadding,
    Trainer,
    TrainerCallback,
)

from peft_efficiency.methods import prepare_model
from peft_efficiency.recipe_kit.args import output_dir as run_dir
from peft_efficiency.recipe_kit.classification import classification_metrics, epoch_table, tokenize_dataset
from peft_efficiency.recipe_kit.config import RecipeConfig
from peft_efficiency.recipe_kit.models import load_model_and_tokenizer, usable_length
from peft_efficiency.recipe_kit.run import describe_run, efficiency_callback, training_arguments


class EpochClock(TrainerCallback):
    """Wall seconds of each training epoch, for the per-epoch table (not an efficiency figure)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_epoch_end(self, args, state, control, **kwargs):
        self.seconds.append(time.perf_counter() - self._start)


def last_evaluation(log_history: list[dict[str, Any]], final_step: int) -> dict[str, Any] | None:
    """The evaluation logged at the final step (per-epoch evaluation after the last epoch), else None.

    Evaluating again after training would repeat it (minutes on a CPU for 2,500 reviews).
    """
    for entry in reversed(log_history):
        if "eval_loss" in entry:
            return {k: v for k, v in entry.items() if k.startswith("eval_") or k == "epoch"} if entry.get("step") == final_step else None
    return None


def train_classifier(
    config: RecipeConfig,
    args: argparse.Namespace,
    train: Any,
    evaluation: Any,
    *,
    recipe: str,
    task: str,
    text: str,
    pair: str | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Fine-tune `config.model` with `config.method` on `train`, evaluate on `evaluation`, write the run report.

    Returns the final evaluation metrics; `<output_dir>/epochs.json` gets the per-epoch table.
    """
    out = run_dir(args, recipe)
    texts = list(train[text]) + (list(train[pair]) if pair else [])
    model, tokenizer = load_model_and_tokenizer(config, AutoModelForSequenceClassification, smoke=args.smoke,
                                                smoke_texts=texts, model_path=args.model_path, scratch_dir=out,
                                                num_labels=2)
    model = prepare_model(model, config.method, config.method_options)
    describe_run(config, args.method, out, model, args.model_path)
    clock = EpochClock()
    length = usable_length(model, config.max_length)
    trainer = Trainer(
        model=model,
        args=training_arguments(config, args, out, run_name=args.method),
        train_dataset=tokenize_dataset(train, tokenizer, length, text, pair),
        eval_dataset=tokenize_dataset(evaluation, tokenizer, length, text, pair),
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=classification_metrics,
        callbacks=[efficiency_callback(config, args, recipe=recipe, task=task, entry=args.method,
                                       quality_metric="eval_accuracy", labels=labels), clock],
    )
    trainer.train()
    metrics = last_evaluation(trainer.state.log_history, trainer.state.global_step) or trainer.evaluate()
    if trainer.is_world_process_zero():
        table = epoch_table(trainer.state.log_history, clock.seconds)
        (Path(out) / "epochs.json").write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
        print(json.dumps({"entry": args.method, **{k: v for k, v in metrics.items() if k.startswith("eval_")}}), flush=True)
    return metrics
