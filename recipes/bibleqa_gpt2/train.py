"""BibleQA with gpt2-large (seed 003): trl SFTTrainer on the ASV Bible text (one verse per example), full vs LoRA
(r 8 on c_attn, c_proj, c_fc), then the `bibleqa` lm-eval task (seed's few-shot prompt, 15 new tokens, lenient
accuracy) on the trained model and on the base model, both recorded in the run report's quality section
(`eval_lenient_acc` / `eval_strict_em` and `base_lenient_acc` / `base_strict_em`).

    accelerate launch recipes/bibleqa_gpt2/train.py --method lora --output-dir runs/bibleqa_gpt2/lora
    python recipes/bibleqa_gpt2/train.py --method full --smoke --data-dir ../shared/data   # seconds, CPU
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

from transformers import AutoModelForCausalLM

from peft_efficiency.availability import require
from peft_efficiency.data import load_asv_bible, resolve_data_dir
from peft_efficiency.methods import prepare_model
from peft_efficiency.recipe_kit.args import build_parser, output_dir, overrides
from peft_efficiency.recipe_kit.classification import take
from peft_efficiency.recipe_kit.config import load_recipe_config
from peft_efficiency.recipe_kit.models import load_model_and_tokenizer, usable_length
from peft_efficiency.recipe_kit.run import describe_run, efficiency_callback, recipe_main, training_arguments
from peft_efficiency.report import record_quality

RECIPE = "bibleqa_gpt2"
HERE = Path(__file__).resolve().parent
METRICS = ("lenient_acc", "strict_em")


def bibleqa_scores(model: Any, tokenizer: Any, args: argparse.Namespace, limit: int | None, max_length: int) -> dict[str, float]:
    """Run the bundled `bibleqa` lm-eval task on an in-memory model; {metric: score}."""
    require("lm_eval", "the BibleQA evaluation")
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from peft_efficiency.harness import tasks_path

    if hasattr(model, "merge_and_unload"):  # evaluate a LoRA model with its adapter merged in
        model = copy.deepcopy(model).merge_and_unload()
    model.eval()
    if getattr(model, "is_gradient_checkpointing", False):  # trl turns it on; it also turns the KV cache off,
        model.gradient_checkpointing_disable()  # so each generated token would re-read the whole prompt
    model.config.use_cache = True
    data_dir = resolve_data_dir(args.data_dir)
    metadata = {"data_dir": str(data_dir)} if data_dir else {}
    manager = TaskManager(include_path=str(tasks_path()), include_defaults=False, metadata=metadata)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=8, max_length=max_length)
    results = lm_eval.simple_evaluate(model=lm, tasks=["bibleqa"], task_manager=manager, limit=limit, bootstrap_iters=0)
    row = results["results"]["bibleqa"]
    return {name: float(row[f"{name},none"]) for name in METRICS}


def _bf16_supported() -> bool:
    """trl's SFTConfig turns bf16 on by default; keep that on a bf16 GPU, off on CPU (where it is refused)."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def run(argv: list[str] | None = None) -> int:
    parser = build_parser(RECIPE, __doc__)
    parser.add_argument("--eval-base", action=argparse.BooleanOptionalAction, default=True,
                        help="also score the untrained base model (default on)")
    args = parser.parse_args(argv)
    require("trl", "the BibleQA recipe (trl SFTTrainer)")
    from trl import SFTConfig, SFTTrainer

    config = load_recipe_config(HERE, args.method, overrides(args), task_type="CAUSAL_LM")
    out = output_dir(args, RECIPE)
    verses = take(load_asv_bible(args.data_dir), config.train_size, args.data_seed).select_columns(["text"])
    model, tokenizer = load_model_and_tokenizer(config, AutoModelForCausalLM, smoke=args.smoke,
                                                smoke_texts=verses["text"], model_path=args.model_path, scratch_dir=out)
    context = usable_length(model, 10**9)
    base = copy.deepcopy(model) if args.eval_base else None
    model = prepare_model(model, config.method, config.method_options)
    describe_run(config, args.method, out, model, args.model_path)
    sft_args = training_arguments(config, args, out, run_name=args.method, evaluate_each_epoch=False,
                                  args_cls=SFTConfig, dataset_text_field="text", max_length=config.max_length,
                                  packing=False, bf16=_bf16_supported())
    trainer = SFTTrainer(model=model, args=sft_args, train_dataset=verses, processing_class=tokenizer,
                         callbacks=[efficiency_callback(config, args, recipe=RECIPE, task="bibleqa", entry=args.method,
                                                        quality_metric="eval_lenient_acc")])
    trainer.train()
    if trainer.is_world_process_zero():
        limit = config.eval_size
        scores = {f"eval_{k}": v for k, v in bibleqa_scores(trainer.model, tokenizer, args, limit, context).items()}
        if base is not None:
            scores.update({f"base_{k}": v for k, v in bibleqa_scores(base, tokenizer, args, limit, context).items()})
        record_quality(out, scores, primary_metric="eval_lenient_acc", greater_is_better=True)
        print({"entry": args.method, **scores}, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    return recipe_main(run, argv)


if __name__ == "__main__":
    sys.exit(main())
