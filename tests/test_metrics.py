"""SQuAD v1.1 EM/F1 and binary F1 against hand-worked values (the rules of evaluate-v1.1.py)."""

from __future__ import annotations

import pytest

from peft_efficiency.metrics import (
    binary_f1,
    binary_f1_from_pairs,
    normalize_answer,
    squad_exact_match,
    squad_f1,
    squad_v1,
)


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("The Denver Broncos!", "denver broncos"),  # case, punctuation, article
        ("  an   apple,  a pear ", "apple pear"),  # two articles, whitespace collapsed
        ("anthem theater", "anthem theater"),  # articles only as whole words
        ("Saint-Étienne", "saintétienne"),  # hyphen removed, non-ASCII letter lower-cased and kept
        ("“Broncos”", "“broncos”"),  # curly quotes are not string.punctuation: kept, as in the script
        ("", ""),
        ("the", ""),
    ],
)
def test_normalize_answer(text, normalized):
    assert normalize_answer(text) == normalized


def test_exact_match_cases():
    assert squad_exact_match("the Broncos.", "Broncos")
    assert not squad_exact_match("Denver", "Denver Broncos")
    assert squad_exact_match("", "")  # both normalize to "", so the script counts a match
    assert not squad_exact_match("“Broncos”", "Broncos")


def test_f1_hand_worked():
    # "cat sat on mat" vs "cat on mat": 3 common tokens, precision 3/4, recall 3/3 -> F1 = 6/7
    assert squad_f1("The cat sat on the mat", "cat on mat") == pytest.approx(6 / 7)
    # repeated tokens count with multiplicity: common = min counts: y:2 -> P = R = 2/3
    assert squad_f1("x y y", "y y z") == pytest.approx(2 / 3)
    assert squad_f1("Broncos", "Panthers") == 0.0
    assert squad_f1("", "Broncos") == 0.0
    assert squad_f1("", "") == 0.0  # no common token: 0, even though EM is 1 (the official script's quirk)
    assert squad_f1("the", "a") == 0.0  # both empty after dropping articles


def test_squad_v1_takes_max_over_golds_and_scales_by_100():
    predictions = ["Denver Broncos", "Carolina", "Santa Clara, California", "gold"]
    references = [
        ["Denver Broncos", "The Denver Broncos"],  # EM 1, F1 1
        ["Carolina Panthers", "the Panthers"],  # EM 0; F1 max(2*1*.5/1.5, 0) = 2/3
        ["Levi's Stadium", "Santa Clara", "Santa Clara, California"],  # EM 1 via the third gold
        ["golden anniversary"],  # EM 0, F1 0 ("gold" != "golden")
    ]
    scores = squad_v1(predictions, references)
    assert scores["exact_match"] == pytest.approx(100 * 2 / 4)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 0) / 4)


def test_squad_v1_perfect_and_zero():
    assert squad_v1(["Adam"], [["adam"]]) == {"exact_match": 100.0, "f1": 100.0}
    assert squad_v1(["Eve"], [["Adam"]]) == {"exact_match": 0.0, "f1": 0.0}


@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [
        (["a", "b"], [["a"]], "2 predictions for 1 questions"),
        ([], [], "no predictions"),
        (["a"], ["a"], "references\\[0\\] must be a non-empty list"),
        (["a"], [[]], "references\\[0\\] must be a non-empty list"),
    ],
)
def test_squad_v1_rejects_bad_input(predictions, references, message):
    with pytest.raises(ValueError, match=message):
        squad_v1(predictions, references)


def test_binary_f1_hand_worked():
    # golds 1 1 1 0 0, predictions 1 0 1 1 0: TP 2, FP 1, FN 1 -> F1 = 4 / (4 + 1 + 1) = 2/3
    assert binary_f1([1, 1, 1, 0, 0], [1, 0, 1, 1, 0]) == pytest.approx(2 / 3)
    # the negative class as positive: TP 1 (last), FP 1 (second), FN 1 (fourth) -> 2 / 4
    assert binary_f1([1, 1, 1, 0, 0], [1, 0, 1, 1, 0], positive=0) == pytest.approx(0.5)
    assert binary_f1([0, 0], [0, 0]) == 0.0  # no positive anywhere: 0, as scikit-learn's zero_division default
    assert binary_f1([1, 0], [1, 0]) == 1.0
    assert binary_f1_from_pairs([(1, 1), (1, 0), (0, 1), (0, 0)]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="2 gold labels but 1 predictions"):
        binary_f1([1, 0], [1])
