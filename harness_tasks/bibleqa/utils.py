"""BibleQA task hooks: the seed-003 prompt, and its lenient score beside two stricter ones.

The prompt is the one printed in seed 003 ("Fine-Tuning on Pre-Training Data", Gronberg 2024), line for line,
with the blank line the seed shows between every line. Gold answers are BibleQA's answers with the list number
and verse reference removed ("1. Mary (Matt 1:18)" -> "Mary"), done once in `peft_efficiency.data.load_bibleqa`.
"""

from __future__ import annotations

import re
from typing import Any

from lm_eval.api.samplers import ContextSampler

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


# A word: a number with its inner separators ("100,000", "3.5"), or letters/digits with inner apostrophes ("Lot's").
_WORD = re.compile(r"\d+(?:[.,]\d+)+|\w+(?:['\u2019]\w+)*")


def first_line_word_match(output: str, gold: str) -> bool:
    """The gold answer's words appear, whole and in order, in the first non-empty line of the output.

    Unlike `lenient_match`, "Ur" is not found in "your", "Dan" not in "Jordan", and an answer written on a later
    line (often inside the model's next made-up Q/A pair) does not count; case and punctuation are ignored.
    """
    gold_words, line_words = _WORD.findall(gold.lower()), _WORD.findall(first_line(output).lower())
    n = len(gold_words)
    return n > 0 and any(line_words[i : i + n] == gold_words for i in range(len(line_words) - n + 1))


def strict_match(output: str, gold: str) -> bool:
    """SQuAD-normalized exact match between the first non-empty output line and the gold answer."""
    gold_normalized = normalize_answer(gold)
    return bool(gold_normalized) and normalize_answer(first_line(output)) == gold_normalized


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """The three scores of one question, as 0.0 or 1.0."""
    output, gold = results[0], doc["answer"]
    return {
        "lenient_acc": float(lenient_match(output, gold)),
        "first_line_word_match": float(first_line_word_match(output, gold)),
        "strict_em": float(strict_match(output, gold)),
    }


class SeedPromptOnly(ContextSampler):
    """Few-shot sampler that refuses: the seed prompt has its own three fixed examples.

    `num_fewshot: 0` in the YAML makes lm-eval ignore `--num_fewshot`; this stops a config that sets num_fewshot
    itself (a YAML including bibleqa.yaml, `set_config`) from putting other test questions before the prompt.
    """

    def sample(self, n: int, *args: Any, **kwargs: Any):
        if n > 0:
            raise ValueError(
                f"bibleqa asks for the seed-003 prompt, which has three fixed examples; num_fewshot={n} would put "
                "other test questions in front of it. Run bibleqa with num_fewshot 0 (its default)."
            )
        return []
