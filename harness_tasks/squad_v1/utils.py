"""SQuAD v1.1 task hooks: documents from `peft_efficiency.data`, EM/F1 from `peft_efficiency.metrics`."""

from __future__ import annotations

from typing import Any

from peft_efficiency.harness.docs import as_dataset_dict
from peft_efficiency.metrics import squad_v1


def load(data_dir: str | None = None, **_metadata: Any):
    """`custom_dataset` hook: the SQuAD v1.1 dev set as the `validation` split (local file or Hub)."""
    from peft_efficiency.data import load_squad_v1

    return as_dataset_dict({"validation": load_squad_v1("validation", data_dir=data_dir)})


def gold_answers(doc: dict) -> list[str]:
    """All gold answer strings of one question (the HF `squad` layout: answers.text)."""
    return list(doc["answers"]["text"])


def first_answer(doc: dict) -> str:
    """The few-shot target: the first gold answer."""
    return gold_answers(doc)[0]


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """Per-question EM and F1 (x100, max over golds); their mean over questions is the official score."""
    return squad_v1([results[0].strip()], [gold_answers(doc)])
