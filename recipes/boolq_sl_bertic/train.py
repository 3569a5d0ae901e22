"""Slovene SuperGLUE BoolQ with BERTić (seed 001): full vs LoRA (r 16, alpha 32, dropout 0.1, bias lora_only), BitFit,
prompt tuning; accuracy, precision, recall, F1 on the validation split.

    accelerate launch recipes/boolq_sl_bertic/train.py --method lora --output-dir runs/boolq_sl_bertic/lora
    python recipes/boolq_sl_bertic/train.py --method full --smoke --data-dir ../shared/data   # seconds, CPU
"""

from __future__ import annotations

import sys
from pathlib import Path

from peft_efficiency.data import load_boolq_sl
from peft_efficiency.recipe_kit.args import build_parser, overrides
from peft_efficiency.recipe_kit.classification import take
from peft_efficiency.recipe_kit.config import load_recipe_config
from peft_efficiency.recipe_kit.run import recipe_main
from peft_efficiency.recipe_kit.train_classifier import train_classifier

RECIPE = "boolq_sl_bertic"
HERE = Path(__file__).resolve().parent


def run(argv: list[str] | None = None) -> int:
    parser = build_parser(RECIPE, __doc__)
    parser.add_argument("--translation", choices=("googlemt", "humant"), default="googlemt",
                        help="machine (googlemt, 9,427/3,270) or human (humant, 92/18) translation")
    args = parser.parse_args(argv)
    config = load_recipe_config(HERE, args.method, overrides(args))
    train = take(load_boolq_sl("train", translation=args.translation, data_dir=args.data_dir), config.train_size, args.data_seed)
    val = take(load_boolq_sl("validation", translation=args.translation, data_dir=args.data_dir), config.eval_size, args.data_seed)
    train_classifier(config, args, train, val, recipe=RECIPE, task=f"boolq_sl_{args.translation}",
                     text="question", pair="passage")
    return 0


def main(argv: list[str] | None = None) -> int:
    return recipe_main(run, argv)


if __name__ == "__main__":
    sys.exit(main())
