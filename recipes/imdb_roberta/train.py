"""IMDb sentiment with roberta-base (seed 004): full, LoRA, QLoRA, IA3; 3000 train / 2000 test, max length 512.

    accelerate launch recipes/imdb_roberta/train.py --method lora --output-dir runs/imdb_roberta/lora
    python recipes/imdb_roberta/train.py --method full --smoke --data-dir ../shared/data   # seconds, CPU
"""

from __future__ import annotations

import sys
from pathlib import Path

from peft_efficiency.data import load_imdb
from peft_efficiency.recipe_kit.args import build_parser, overrides
from peft_efficiency.recipe_kit.classification import take
from peft_efficiency.recipe_kit.config import load_recipe_config
from peft_efficiency.recipe_kit.run import recipe_main
from peft_efficiency.recipe_kit.train_classifier import train_classifier

RECIPE = "imdb_roberta"
HERE = Path(__file__).resolve().parent


def run(argv: list[str] | None = None) -> int:
    args = build_parser(RECIPE, __doc__).parse_args(argv)
    config = load_recipe_config(HERE, args.method, overrides(args))
    train = take(load_imdb("train", args.data_dir), config.train_size, args.data_seed)
    test = take(load_imdb("test", args.data_dir), config.eval_size, args.data_seed)
    train_classifier(config, args, train, test, recipe=RECIPE, task="imdb", text="text")
    return 0


def main(argv: list[str] | None = None) -> int:
    return recipe_main(run, argv)


if __name__ == "__main__":
    sys.exit(main())
