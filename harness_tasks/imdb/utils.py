"""IMDb task hooks: reviews from `peft_efficiency.data`, binary F1 without scikit-learn."""

from __future__ import annotations

from typing import Any

from peft_efficiency.harness.docs import as_dataset_dict
from peft_efficiency.metrics import binary_f1_from_pairs


def load(data_dir: str | None = None, **_metadata: Any):
    """`custom_dataset` hook: the IMDb test reviews (`test`) and train reviews (`train`, for few-shot)."""
    from peft_efficiency.data import load_imdb

    return as_dataset_dict({split: load_imdb(split, data_dir=data_dir) for split in ("train", "test")})


def process_docs(dataset):
    """Turn the raw `<br />` line breaks of the original files into newlines."""
    return dataset.map(lambda doc: {"text": doc["text"].replace("<br />", "\n").strip()})


def f1(items: list[tuple[int, int]]) -> float:
    """Aggregation: F1 of the positive class (label 1) over (gold, predicted) pairs."""
    return binary_f1_from_pairs(items)
