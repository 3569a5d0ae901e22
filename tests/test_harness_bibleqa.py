"""BibleQA's three scores on hand-made outputs, over the real 886 questions, and its fixed prompt under num_fewshot.

Expected values are worked out by hand from the rules in harness_tasks/bibleqa/README.md: `lenient_acc` (the
seed's) is a case-blind substring test over the whole output; `first_line_word_match` wants the gold's words
whole and in order in the first non-empty line; `strict_em` wants that line to equal the gold after SQuAD
normalization.
"""

from __future__ import annotations

from pathlib import Path

import pytest

lm_eval = pytest.importorskip("lm_eval")

from harness_helpers import FakeLM  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

from peft_efficiency.harness import tasks_path  # noqa: E402

METRICS = ("lenient_acc", "first_line_word_match", "strict_em")


@pytest.fixture(scope="module")
def task_manager(data_dir: Path) -> TaskManager:
    return TaskManager(include_path=str(tasks_path()), include_defaults=False, metadata={"data_dir": str(data_dir)})


@pytest.fixture(scope="module")
def bibleqa(task_manager):
    return task_manager.load(["bibleqa"])["tasks"]["bibleqa"]


# (model output, gold) -> (lenient, word match, strict), each worked out by hand
HAND_MADE = [
    (" your father Terah", "Ur", (1, 0, 0)),  # "ur" inside "your"
    (" The river Jordan\n\nQ: Who", "Dan", (1, 0, 0)),  # "dan" inside "Jordan"
    (" Gog and Magog\n\nQ: Who", "Og", (1, 0, 0)),  # "og" inside "Gog" (not inside "God": g-o-d)
    (" God\n\nQ: Who", "Og", (0, 0, 0)),
    (" Dan.\n\nQ: Who", "Dan", (1, 1, 1)),  # the full stop is punctuation, not part of the word
    (" the tribe of DAN", "Dan", (1, 1, 0)),  # case ignored; extra words rule out strict only
    (" Moses\nDan", "Dan", (1, 0, 0)),  # the answer is on the second line
    ("\n\n Dan\n", "Dan", (1, 1, 1)),  # leading blank lines: the first non-empty line is " Dan"
    (" Herod the Great", "Herod (the Great)", (0, 1, 1)),  # gold's parentheses: substring misses, words match
    (" mount of Sinai", "Mount Sinai", (0, 0, 0)),  # the seed's own example: wrong under all three
    (" Lot's wife", "Lot", (1, 0, 0)),  # a possessive is another word
    (" 100,000 men", "100", (1, 0, 0)),  # a number is read whole, with its thousands separator
    (" The Garden of Eden", "Eden", (1, 1, 0)),  # the seed's right answer in extra words
]


@pytest.mark.parametrize(("output", "gold", "expected"), HAND_MADE)
def test_hand_made_outputs(bibleqa, output, gold, expected):
    doc = dict(bibleqa.test_docs()[0], answer=gold)
    scores = bibleqa.process_results(doc, [output])
    assert tuple(scores[m] for m in METRICS) == tuple(map(float, expected))


def _scores(task_manager, answer_format: str) -> dict[str, float]:
    out = lm_eval.simple_evaluate(model=FakeLM(correct=True, answer_format=answer_format), tasks=["bibleqa"],
                                  task_manager=task_manager, bootstrap_iters=0)
    return {m: out["results"]["bibleqa"][f"{m},none"] for m in METRICS}


def test_answer_on_the_second_line_over_all_886_questions(task_manager):
    # "zzqxj" holds no gold answer and no gold word: every gold is found by the substring rule, on line 2 only
    expected = {"lenient_acc": 1.0, "first_line_word_match": 0.0, "strict_em": 0.0}
    assert _scores(task_manager, " zzqxj\n{gold}") == expected


def test_punctuation_around_the_gold_over_all_886_questions(task_manager):
    # a trailing full stop, or quotes around the answer: the three rules all see past them
    assert _scores(task_manager, " {gold}.\n\nQ: Who") == dict.fromkeys(METRICS, 1.0)
    assert _scores(task_manager, " \"{gold}\"\n") == dict.fromkeys(METRICS, 1.0)


def test_short_gold_answers(bibleqa):
    """The figure in the README: 28 gold answers of 3 characters or fewer. Glued inside a longer word ("xurx" for
    "Ur") each is still found by the substring rule and by no other; written as a word, by all three."""
    short = [doc for doc in bibleqa.test_docs() if len(doc["answer"]) <= 3]
    assert len(short) == 28 and {"Ur", "Og", "Dan"} <= {doc["answer"] for doc in short}
    inside = [bibleqa.process_results(doc, [f" x{doc['answer'].lower()}x\n"]) for doc in short]
    assert [tuple(scores[m] for m in METRICS) for scores in inside] == [(1.0, 0.0, 0.0)] * 28
    alone = [bibleqa.process_results(doc, [f" {doc['answer']}\n"]) for doc in short]
    assert [tuple(scores[m] for m in METRICS) for scores in alone] == [(1.0, 1.0, 1.0)] * 28


def test_a_task_config_asking_for_fewshot_examples_is_refused(task_manager):
    """A config that sets num_fewshot itself (not --num_fewshot, which lm-eval ignores here) is refused."""
    task = task_manager.load(["bibleqa"])["tasks"]["bibleqa"]
    assert task.config.num_fewshot == 0
    task.set_config(key="num_fewshot", value=2)
    with pytest.raises(ValueError, match=r"seed-003 prompt.*num_fewshot=2"):
        task.build_all_requests(limit=1, rank=0, world_size=1)
