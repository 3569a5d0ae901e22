"""BibleQA task hooks: the seed-003 prompt, and its lenient score beside a stricter one.

The prompt is the one printed in seed 003 ("Fine-Tuning on Pre-Training Data", Gronberg 2024), line for line,
with the blank line the seed shows between every line. Gold answers are BibleQA's answers with the list number
and verse reference removed ("1. Mary (Matt 1:18)" -> "Mary"), done once in `peft_efficiency.data.load_bibleqa`.
"""

from __future__ import annotations

from typing import Any

from peft_efficiency.harness.docs import as_dataset_dict
from peft_efficiency.metrics import normalize_answer

SEED_PROMPT = (
    "The following are questions and answers about the Bible.\n\n"
    "Q: Who was the first man?\n\n"
    "A: Adam\n\n"
    "Q: What was special about Samson?\n\n"
    "A: He was very strong\n\n"
    "Q: Where was Jesus born?\n\n"
    "A: Bethlehem\n\n"
    "Q: {question}\n\n"
    "A:"
)


def load(data_dir: str | None = None, **_metadata: Any):
    """`custom_dataset` hook: all 886 BibleQA questions as the `test` split."""
    from peft_efficiency.data import load_bibleqa

    return as_dataset_dict({"test": load_bibleqa(data_dir=data_dir)})


def doc_to_text(doc: dict) -> str:
    """The seed prompt with this document's question in place of "[BibleQA question here]"."""
    return SEED_PROMPT.format(question=doc["question"].strip())


def lenient_match(output: str, gold: str) -> bool:
    """The seed's rule: the gold answer appears anywhere in the output, ignoring case."""
    return gold.strip().lower() in output.lower()


def first_line(output: str) -> str:
    """The first non-empty line of the output (the answer before the model starts a new Q/A pair)."""
    return next((line for line in output.splitlines() if line.strip()), "")


def strict_match(output: str, gold: str) -> bool:
    """SQuAD-normalized exact match between the first non-empty output line and the gold answer."""
    gold_normalized = normalize_answer(gold)
    return bool(gold_normalized) and normalize_answer(first_line(output)) == gold_normalized


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """Both scores for one question, as 0.0 or 1.0."""
    output, gold = results[0], doc["answer"]
    return {"lenient_acc": float(lenient_match(output, gold)), "strict_em": float(strict_match(output, gold))}
