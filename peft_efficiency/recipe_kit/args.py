"""The command line every recipe shares: --method, --smoke, --output-dir, --data-dir, --model-path, overrides."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

SMOKE_SETTINGS: dict[str, Any] = {"max_length": 64, "train_size": 16, "eval_size": 8, "batch_size": 4, "epochs": 1}
SMOKE_MAX_STEPS = 3


def positive(kind: type) -> Any:
    """An argparse type: a `kind` number > 0, else one `error:` line naming the value."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0:
            raise argparse.ArgumentTypeError(f"must be a {'whole ' if kind is int else ''}number > 0, got {text!r}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def step_limit(text: str) -> int:
    """An argparse type: a whole number > 0, or -1 (train by epochs)."""
    if text.strip() == "-1":
        return -1
    return positive(int)(text)


def model_folder(text: str) -> str:
    """An argparse type: a local folder holding a transformers model (config.json)."""
    folder = Path(text)
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{text} does not exist or is not a folder (give the folder that holds config.json)")
    if not (folder / "config.json").is_file():
        raise argparse.ArgumentTypeError(f"{text} holds no config.json, so it is not a saved transformers model")
    return text


def country_code(text: str) -> str:
    from peft_efficiency.callbacks.options import check_country_iso_code

    try:
        return check_country_iso_code(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def method_option(text: str) -> tuple[str, Any]:
    """An argparse type: KEY=VALUE for one method option; VALUE is read as JSON (16, 0.1, true, ["q_proj"]), else text."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"must look like KEY=VALUE (e.g. r=16 or 'target_modules=[\"q_proj\"]'), got {text!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def build_parser(recipe: str, description: str) -> argparse.ArgumentParser:
    """The shared parser; a recipe may add its own arguments before parsing."""
    parser = argparse.ArgumentParser(prog=f"recipes/{recipe}/train.py", description=description)
    parser.add_argument("--method", default="full", help="grid entry (configs/NAME.json) or registered method; default full")
    parser.add_argument("--smoke", action="store_true", help="tiny model from the config family, a handful of real examples, a few CPU steps")
    parser.add_argument("--output-dir", default=None, help=f"run folder (default runs/{recipe}/METHOD)")
    parser.add_argument("--data-dir", default=None, help="data folder laid out like ../shared/data (default $PEFT_EFFICIENCY_DATA_DIR, else the Hub)")
    parser.add_argument("--model-path", default=None, type=model_folder, help="local model folder used instead of the Hub model id")
    parser.add_argument("--model-name", default=None,
                        help="model name in the run report (default: the Hub id, or the --model-path folder's model card title)")
    parser.add_argument("--method-option", action="append", type=method_option, default=[], metavar="KEY=VALUE",
                        help="set one option of the method over its grid entry (repeatable), e.g. r=16 or "
                             "'target_modules=[\"q_proj\",\"v_proj\"]'; VALUE is read as JSON, else as text")
    parser.add_argument("--learning-rate", type=positive(float), default=None, help="override the learning rate")
    parser.add_argument("--epochs", type=positive(float), default=None, help="override the number of epochs")
    parser.add_argument("--batch-size", type=positive(int), default=None, help="override the per-device batch size")
    parser.add_argument("--max-length", type=positive(int), default=None, help="override the maximum tokens per example")
    parser.add_argument("--train-size", type=positive(int), default=None, help="override the number of training examples")
    parser.add_argument("--eval-size", type=positive(int), default=None, help="override the number of evaluation examples")
    parser.add_argument("--max-steps", type=step_limit, default=None,
                        help="stop after this many optimizer steps; -1 trains by epochs (also in --smoke)")
    parser.add_argument("--seed", type=int, default=42,
                        help="seed of initialisation, dropout and data order (default 42); repeats vary it")
    parser.add_argument("--data-seed", type=int, default=42,
                        help="seed of the training and evaluation subsets drawn from the data (default 42)")
    parser.add_argument("--energy", action=argparse.BooleanOptionalAction, default=None,
                        help="measure energy with codecarbon (default: on, off in --smoke)")
    parser.add_argument("--country-iso-code", default="USA", type=country_code, help="grid carbon intensity used for CO2 (default USA)")
    return parser


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Settings the command line changes: smoke sizes first, then explicit flags.

    In smoke mode torch also runs on one thread: for a 32-wide model thread hand-offs cost more than the maths
    (on a busy 2-core machine a step drops from ~1.6 s to ~20 ms).
    """
    if args.smoke:
        import torch

        torch.set_num_threads(1)
    values = dict(SMOKE_SETTINGS) if args.smoke else {}
    flags = {"learning_rate": args.learning_rate, "epochs": args.epochs, "batch_size": args.batch_size,
             "max_length": args.max_length, "train_size": args.train_size, "eval_size": args.eval_size}
    values.update({k: v for k, v in flags.items() if v is not None})
    if args.method_option:
        values["method_options"] = dict(args.method_option)
    return values


def output_dir(args: argparse.Namespace, recipe: str) -> Path:
    """The run folder: --output-dir, else runs/<recipe>/<method>."""
    return Path(args.output_dir or os.path.join("runs", recipe, args.method))


def max_steps(args: argparse.Namespace) -> int:
    """--max-steps, else a few steps in smoke mode, else -1 (train by epochs)."""
    if args.max_steps is not None:
        return args.max_steps
    return SMOKE_MAX_STEPS if args.smoke else -1


def energy_enabled(args: argparse.Namespace) -> bool:
    return (not args.smoke) if args.energy is None else bool(args.energy)
