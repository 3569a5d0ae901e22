"""Slovene BoolQ task hooks: documents from `peft_efficiency.data`, binary F1 without scikit-learn."""

from __future__ import annotations

from typing import Any

from peft_efficiency.harness.docs import as_dataset_dict
from peft_efficiency.metrics import binary_f1_from_pairs


def load(translation: str = "googlemt", data_dir: str | None = None, **_metadata: Any):
    """`custom_dataset` hook: train (few-shot pool) and validation of one translation ("googlemt"/"humant")."""
    from peft_efficiency.data import load_boolq_sl

    return as_dataset_dict(
        {split: load_boolq_sl(split, translation=translation, data_dir=data_dir) for split in ("train", "validation")}
    )


def doc_to_text(doc: dict) -> str:
    """Passage, then the question with a question mark, then the answer cue ("Odgovor:")."""
    question = doc["question"].strip()
    if not question.endswith("?"):
        question += "?"
    return f"{doc['passage'].strip()}\nVprašanje: {question}\nOdgovor:"


def f1(items: list[tuple[int, int]]) -> float:
    """Aggregation: F1 of the "da" (true, label 1) class over (gold, predicted) pairs."""
    return binary_f1_from_pairs(items)
