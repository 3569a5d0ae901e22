"""IMDb movie reviews (Maas et al. 2011): the 2,500 + 2,500 balanced samples in the data directory, or the Hub set.

Local files: ``imdb/imdb_{train,test}_2500.jsonl.gz`` (fields ``id``, ``rating``, ``label``, ``text``).
Hub fallback: ``stanfordnlp/imdb`` (the full 25,000 + 25,000 reviews).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import datasets

from .hub import load_hub_split
from .paths import DataFileError, local_file, resolve_data_dir
from .readers import read_jsonl

IMDB_HUB_NAME = "stanfordnlp/imdb"
IMDB_SPLITS = ("train", "test")
IMDB_FEATURES = datasets.Features(
    {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
)


def imdb_file(split: str) -> str:
    """The local file of ``split``, relative to the data directory."""
    return f"imdb/imdb_{split}_2500.jsonl.gz"


def load_imdb(split: Literal["train", "test"], data_dir: str | Path | None = None) -> datasets.Dataset:
    """Load IMDb reviews with columns ``text`` (str) and ``label`` (0 negative, 1 positive).

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: folder laid out like ``../shared/data``; default ``$PEFT_EFFICIENCY_DATA_DIR``, else the Hub.

    Example:
        >>> ds = load_imdb("test", "/work/shared/data")  # doctest: +SKIP
        >>> len(ds), ds.features["label"].names  # doctest: +SKIP
        (2500, ['neg', 'pos'])
    """
    if split not in IMDB_SPLITS:
        raise ValueError(f"IMDb split {split!r} does not exist; choose one of {list(IMDB_SPLITS)}")
    root = resolve_data_dir(data_dir)
    if root is None:
        hub = load_hub_split(IMDB_HUB_NAME, split, looked_for=imdb_file(split))
        return hub.select_columns(["text", "label"])
    path = local_file(root, imdb_file(split), f"the Hub data set '{IMDB_HUB_NAME}'")
    records = read_jsonl(path, {"text": str, "label": int})
    for line_no, record in enumerate(records, start=1):
        if record["label"] not in (0, 1):
            raise DataFileError(f"data file {path}: record {line_no} has label {record['label']!r}, expected 0 or 1")
    return datasets.Dataset.from_dict(
        {"text": [r["text"] for r in records], "label": [r["label"] for r in records]}, features=IMDB_FEATURES
    )
