"""A recipe's settings: `configs/defaults.json`, then `configs/<METHOD>.json`, then command-line overrides.

A recipe's method grid is its `configs/` folder: every `<name>.json` other than `defaults.json` is one grid entry,
naming a registered method (`"method": "lora"`) and the settings it changes (a tuned variant is one more file).
A registered method without a file of its own runs with the defaults and the method's own default options.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from peft_efficiency.methods import MethodError, available_methods, get_method
from peft_efficiency.methods.prefix_support import check_prefix_support

DEFAULTS_FILE = "defaults.json"


@dataclass
class RecipeConfig:
    """Training settings of one recipe run (the seed's settings unless a method file or a flag changes them)."""

    model: str = field(metadata={"help": "Hub model id of the real run."})
    model_family: str = field(metadata={"help": "transformers model_type the smoke model is built from (bert, roberta, electra, gpt2)."})
    method: str = field(default="full", metadata={"help": "Registered method name (peft_efficiency.methods)."})
    method_options: dict[str, Any] = field(default_factory=dict, metadata={"help": "Options of the method (overrides its defaults)."})
    learning_rate: float = field(default=2e-5, metadata={"help": "Peak learning rate."})
    epochs: float = field(default=1.0, metadata={"help": "Training epochs."})
    batch_size: int = field(default=16, metadata={"help": "Per-device train and eval batch size."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    max_length: int = field(default=512, metadata={"help": "Maximum tokens per example."})
    train_size: int | None = field(default=None, metadata={"help": "Training examples kept (None = all)."})
    eval_size: int | None = field(default=None, metadata={"help": "Evaluation examples kept (None = all)."})
    extra: dict[str, Any] = field(default_factory=dict, metadata={"help": "Recipe-specific settings (e.g. doc_stride)."})

    def __post_init__(self) -> None:
        get_method(self.method)  # unknown method -> MethodError listing the valid ones
        if self.learning_rate <= 0 or self.epochs <= 0 or self.batch_size < 1 or self.max_length < 8:
            raise MethodError(
                f"invalid settings: learning_rate={self.learning_rate}, epochs={self.epochs}, "
                f"batch_size={self.batch_size}, max_length={self.max_length} (need lr > 0, epochs > 0, batch >= 1, max_length >= 8)"
            )


def grid_entries(recipe_dir: str | Path) -> list[str]:
    """The recipe's method grid: names of its `configs/*.json` files other than defaults, sorted."""
    configs = Path(recipe_dir) / "configs"
    return sorted(p.stem for p in configs.glob("*.json") if p.name != DEFAULTS_FILE)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MethodError(f"{path}: not valid JSON at line {exc.lineno} ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise MethodError(f"{path}: a recipe config must be a JSON object")
    return data


def load_recipe_config(recipe_dir: str | Path, name: str, overrides: dict[str, Any] | None = None,
                       task_type: str = "SEQ_CLS") -> RecipeConfig:
    """Settings for grid entry (or registered method) `name` of the recipe in `recipe_dir`.

    Args:
        recipe_dir: the recipe folder (holding `configs/defaults.json`).
        name: a `configs/<name>.json` entry, or any registered method name.
        overrides: settings given on the command line (None values are ignored); `method_options` are merged
            over the entry's options, not in place of them.
        task_type: the peft task type the recipe trains (checks that the method can run on this transformers).
    """
    overrides = dict(overrides or {})
    option_overrides = overrides.pop("method_options", None) or {}
    configs = Path(recipe_dir) / "configs"
    settings = _read(configs / DEFAULTS_FILE)
    entry = configs / f"{name}.json"
    if entry.is_file():
        method_file = _read(entry)
        options = {**settings.get("method_options", {}), **method_file.pop("method_options", {})}
        settings.update(method_file)
        settings["method_options"] = options
        settings.setdefault("method", name)
    elif name in available_methods():
        settings["method"] = name
        settings["method_options"] = {}
    else:
        raise MethodError(
            f"unknown method {name!r} for recipe {Path(recipe_dir).name}; its grid: {', '.join(grid_entries(recipe_dir))}; "
            f"any registered method also works: {', '.join(available_methods())}"
        )
    settings.update({k: v for k, v in overrides.items() if v is not None})
    settings["method_options"] = {**settings.get("method_options", {}), **option_overrides}
    known = {f.name for f in fields(RecipeConfig)}
    extra = {k: settings.pop(k) for k in list(settings) if k not in known}
    settings["extra"] = {**settings.get("extra", {}), **extra}
    config = RecipeConfig(**settings)
    if config.method == "prefix":  # before any data is loaded: this transformers may not run it
        check_prefix_support(config.model_family, task_type)
    return config
