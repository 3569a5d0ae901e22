"""SQuAD v1.1 extractive QA with bert-base-uncased (seed 000): full, LoRA, LoHa, IA3, prefix tuning, p-tuning.

Max length 384, doc stride 128 (overflowing windows, offset mapping), spans of at most 30 tokens, EM/F1 with
peft_efficiency.metrics.squad_v1. With the Hub it trains on the train split and scores the dev set; offline (a
data directory) it splits the 48 dev articles by title with split_by_title(eval_fraction=0.2, seed=0): 38
articles train, 10 are scored.

    accelerate launch recipes/squad_bert/train.py --method lora --output-dir runs/squad_bert/lora
    python recipes/squad_bert/train.py --method prefix --smoke --data-dir ../shared/data   # seconds, CPU
"""

from __future__ import annotations

import sys
from pathlib import Path

from transformers import AutoModelForQuestionAnswering, Trainer, default_data_collator

from peft_efficiency.data import load_squad_v1, resolve_data_dir, split_by_title
from peft_efficiency.methods import prepare_model, prepended_virtual_tokens
from peft_efficiency.metrics import squad_v1
from peft_efficiency.recipe_kit.args import build_parser, output_dir, overrides
from peft_efficiency.recipe_kit.classification import take
from peft_efficiency.recipe_kit.config import load_recipe_config
from peft_efficiency.recipe_kit.models import load_model_and_tokenizer, usable_length
from peft_efficiency.recipe_kit.run import describe_run, efficiency_callback, recipe_main, training_arguments
from peft_efficiency.recipe_kit.squad_qa import eval_features, postprocess, train_features
from peft_efficiency.report import record_quality

RECIPE = "squad_bert"
HERE = Path(__file__).resolve().parent
SMOKE_MAX_LENGTH, SMOKE_STRIDE = 128, 32


def run(argv: list[str] | None = None) -> int:
    args = build_parser(RECIPE, __doc__).parse_args(argv)
    settings = overrides(args)
    if args.smoke and args.max_length is None:
        settings["max_length"] = SMOKE_MAX_LENGTH  # room for a question and some context with the tiny vocabulary
    config = load_recipe_config(HERE, args.method, settings, task_type="QUESTION_ANS")
    out = output_dir(args, RECIPE)
    if resolve_data_dir(args.data_dir) is not None:
        train, dev = split_by_title(load_squad_v1("validation", args.data_dir), eval_fraction=0.2, seed=0)
    else:
        train, dev = load_squad_v1("train"), load_squad_v1("validation")
    train, dev = take(train, config.train_size, args.data_seed), take(dev, config.eval_size, args.data_seed)

    model, tokenizer = load_model_and_tokenizer(
        config, AutoModelForQuestionAnswering, smoke=args.smoke, model_path=args.model_path, scratch_dir=out,
        smoke_texts=list(train["context"]) + list(train["question"]))
    model = prepare_model(model, config.method, config.method_options)
    describe_run(config, args.method, out, model, args.model_path)
    shift = prepended_virtual_tokens(model)  # prompt/p-tuning logits start with the virtual tokens
    length = usable_length(model, config.max_length)
    stride = SMOKE_STRIDE if args.smoke else int(config.extra["doc_stride"])
    train_set = train_features(train, tokenizer, length, stride, shift=shift)
    dev_set = eval_features(dev, tokenizer, length, stride)

    trainer = Trainer(
        model=model,
        args=training_arguments(config, args, out, run_name=args.method, evaluate_each_epoch=False),
        train_dataset=train_set,
        data_collator=default_data_collator,
        callbacks=[efficiency_callback(config, args, recipe=RECIPE, task="squad_v1", entry=args.method,
                                       quality_metric="eval_f1")],
    )
    trainer.train()
    start_logits, end_logits = trainer.predict(dev_set.remove_columns(["example_id", "offset_mapping"])).predictions[:2]
    predictions = postprocess(dev, dev_set, start_logits, end_logits,
                              max_answer_length=int(config.extra["max_answer_length"]), shift=shift)
    scores = squad_v1([predictions[i] for i in dev["id"]], [a["text"] for a in dev["answers"]])
    metrics = {"eval_exact_match": scores["exact_match"], "eval_f1": scores["f1"], "eval_questions": len(dev)}
    if trainer.is_world_process_zero():
        record_quality(out, metrics, primary_metric="eval_f1", greater_is_better=True)
        print({"entry": args.method, **metrics}, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    return recipe_main(run, argv)


if __name__ == "__main__":
    sys.exit(main())
