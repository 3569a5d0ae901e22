"""Helpers for the recipe and grid tests: import a recipe's train.py by path, list every recipe's grid."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[1]
RECIPES_DIR = REPO_ROOT / "recipes"


def recipe_names() -> list[str]:
    return sorted(p.parent.name for p in RECIPES_DIR.glob("*/train.py"))


def load_recipe(name: str) -> ModuleType:
    """The recipe's train.py as a module (its `main(argv)` runs in-process)."""
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES_DIR / name / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def grid_cases() -> list[tuple[str, str]]:
    from peft_efficiency.recipe_kit.config import grid_entries

    return [(name, entry) for name in recipe_names() for entry in grid_entries(RECIPES_DIR / name)]
