"""IMDb with TinyBERT (seed 002): full, embeddings only, encoder only, prompt tuning (20 tokens), BitFit; 10 epochs,
the per-epoch table (training loss, validation accuracy, runtime) in epochs.json, and 90/10 vs 30/70 splits.

The pool is the IMDb train and test samples together (2,500 + 2,500 from the data directory, or the Hub's
25,000 + 25,000), shuffled with the seed and cut into train/validation by --split.

    accelerate launch recipes/imdb_tinybert/train.py --method embeddings_only --split 30/70
    python recipes/imdb_tinybert/train.py --method bitfit --smoke --data-dir ../shared/data   # seconds, CPU
"""

from __future__ import annotations

import sys
from pathlib import Path

from datasets import concatenate_datasets

from peft_efficiency.data import load_imdb
from peft_efficiency.methods import MethodError
from peft_efficiency.recipe_kit.args import build_parser, overrides
from peft_efficiency.recipe_kit.classification import take
from peft_efficiency.recipe_kit.config import load_recipe_config
from peft_efficiency.recipe_kit.run import recipe_main
from peft_efficiency.recipe_kit.train_classifier import train_classifier

RECIPE = "imdb_tinybert"
HERE = Path(__file__).resolve().parent


def train_fraction(split: str) -> float:
    """'90/10' -> 0.9; the two parts must add up to 100."""
    try:
        train, val = (int(part) for part in split.split("/"))
    except ValueError:
        raise MethodError(f"--split must look like 90/10 (train/validation percent), got {split!r}") from None
    if train + val != 100 or not 0 < train < 100:
        raise MethodError(f"--split parts must be positive and add up to 100, got {split!r}")
    return train / 100


def run(argv: list[str] | None = None) -> int:
    parser = build_parser(RECIPE, __doc__)
    parser.add_argument("--split", default=None, help="train/validation percent of the pool: 90/10 (default) or 30/70")
    args = parser.parse_args(argv)
    config = load_recipe_config(HERE, args.method, overrides(args))
    split = args.split or config.extra.get("split", "90/10")
    fraction = train_fraction(split)
    pool = concatenate_datasets([load_imdb("train", args.data_dir), load_imdb("test", args.data_dir)])
    pool = pool.shuffle(seed=args.data_seed)
    cut = int(round(fraction * len(pool)))
    train = take(pool.select(range(cut)), config.train_size, args.data_seed)
    val = take(pool.select(range(cut, len(pool))), config.eval_size, args.data_seed)
    train_classifier(config, args, train, val, recipe=RECIPE, task="imdb", text="text", labels={"split": split})
    return 0


def main(argv: list[str] | None = None) -> int:
    return recipe_main(run, argv)


if __name__ == "__main__":
    sys.exit(main())
