"""Quality metrics shared by the recipes and the lm-eval tasks.

`squad_v1` follows the official SQuAD v1.1 evaluation script (`evaluate-v1.1.py`): answers are normalized
(lower-case, punctuation removed, the articles a/an/the dropped, whitespace collapsed); exact match and
token-level F1 are taken as the maximum over the gold answers of each question, averaged over questions and
multiplied by 100. `binary_f1` is the F1 of one class for classification tasks
(the same value as scikit-learn's `f1_score` with its default binary average, without needing it).

Example:
    >>> squad_v1(["the Denver Broncos"], [["Denver Broncos", "Broncos"]])
    {'exact_match': 100.0, 'f1': 100.0}
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

__all__ = ["binary_f1", "binary_f1_from_pairs", "normalize_answer", "squad_exact_match", "squad_f1", "squad_v1"]

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Normalize an answer the way evaluate-v1.1.py does.

    Lower-case, remove ASCII punctuation, remove the articles a/an/the, collapse whitespace.
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def squad_exact_match(prediction: str, gold: str) -> bool:
    """True when the normalized prediction equals the normalized gold answer."""
    return normalize_answer(prediction) == normalize_answer(gold)


def squad_f1(prediction: str, gold: str) -> float:
    """Token-level F1 (in [0, 1]) between the normalized prediction and gold answer.

    As in the official script, no common token gives 0 (so two empty strings also give 0).
    """
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_v1(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """SQuAD v1.1 exact match and F1 (both x100) over a list of questions.

    Args:
        predictions: one predicted answer string per question.
        references: the gold answers of each question (at least one each).

    Returns:
        ``{"exact_match": float, "f1": float}``, each the mean over questions of the max over golds, x100.

    Example:
        >>> squad_v1(["an apple", "pear"], [["Apple"], ["banana", "pear tree"]])
        {'exact_match': 50.0, 'f1': 83.33333333333333}
    """
    if isinstance(predictions, str) or len(predictions) != len(references):
        raise ValueError(
            f"squad_v1: got {len(predictions)} predictions for {len(references)} questions; "
            "pass one prediction string per question"
        )
    if not predictions:
        raise ValueError("squad_v1: no predictions given; pass at least one question")
    exact_total = f1_total = 0.0
    for index, (prediction, golds) in enumerate(zip(predictions, references)):
        if isinstance(golds, str) or not golds:
            raise ValueError(
                f"squad_v1: references[{index}] must be a non-empty list of gold answer strings, got {golds!r}"
            )
        exact_total += max(float(squad_exact_match(prediction, gold)) for gold in golds)
        f1_total += max(squad_f1(prediction, gold) for gold in golds)
    count = len(predictions)
    return {"exact_match": 100.0 * exact_total / count, "f1": 100.0 * f1_total / count}


def binary_f1(golds: Sequence[int], predictions: Sequence[int], positive: int = 1) -> float:
    """F1 (in [0, 1]) of the `positive` class; 0.0 when there are no true positives.

    Example:
        >>> binary_f1([1, 1, 0, 0], [1, 0, 1, 0])
        0.5
    """
    if len(golds) != len(predictions):
        raise ValueError(f"binary_f1: {len(golds)} gold labels but {len(predictions)} predictions")
    true_pos = sum(1 for g, p in zip(golds, predictions) if g == positive and p == positive)
    false_pos = sum(1 for g, p in zip(golds, predictions) if g != positive and p == positive)
    false_neg = sum(1 for g, p in zip(golds, predictions) if g == positive and p != positive)
    if true_pos == 0:
        return 0.0
    return 2 * true_pos / (2 * true_pos + false_pos + false_neg)


def binary_f1_from_pairs(items: Sequence[tuple[int, int]], positive: int = 1) -> float:
    """`binary_f1` over (gold, prediction) pairs, the form lm-eval hands to an aggregation."""
    golds = [int(gold) for gold, _ in items]
    predictions = [int(pred) for _, pred in items]
    return binary_f1(golds, predictions, positive=positive)
