"""The bundled lm-eval tasks end to end through `lm_eval.simple_evaluate`, with fake LMs answering from the data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

lm_eval = pytest.importorskip("lm_eval")

from harness_helpers import FakeLM  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

from peft_efficiency.harness import GROUP_NAME, TASK_NAMES, tasks_path  # noqa: E402

# task -> its metrics and their perfect value (EM/F1 are x100 like the official SQuAD script; the rest are rates)
PERFECT = {
    "squad_v1": {"exact_match": 100.0, "f1": 100.0},
    "imdb_sample2500": {"acc": 1.0, "f1": 1.0},
    "boolq_sl": {"acc": 1.0, "f1": 1.0},
    "boolq_sl_humant": {"acc": 1.0, "f1": 1.0},
    "bibleqa": {"lenient_acc": 1.0, "first_line_word_match": 1.0, "strict_em": 1.0},
}
LIMIT = 12


@pytest.fixture(scope="module")
def task_manager(data_dir: Path) -> TaskManager:
    return TaskManager(include_path=str(tasks_path()), include_defaults=False, metadata={"data_dir": str(data_dir)})


def _evaluate(lm: FakeLM, tasks: list[str], task_manager: TaskManager, limit: int | None = LIMIT) -> dict:
    out = lm_eval.simple_evaluate(
        model=lm, tasks=tasks, task_manager=task_manager, limit=limit, bootstrap_iters=0, log_samples=False
    )
    return out["results"]


def test_every_task_yaml_is_indexed(task_manager):
    assert set(task_manager.all_tasks) == set(TASK_NAMES) | {GROUP_NAME}
    assert GROUP_NAME in task_manager.all_groups


@pytest.mark.parametrize("task", sorted(PERFECT))
def test_gold_answers_score_perfect(task, task_manager):
    results = _evaluate(FakeLM(correct=True), [task], task_manager)
    for metric, perfect in PERFECT[task].items():
        assert results[task][f"{metric},none"] == perfect, (task, metric)


@pytest.mark.parametrize("task", sorted(PERFECT))
def test_wrong_answers_score_zero(task, task_manager):
    results = _evaluate(FakeLM(correct=False), [task], task_manager)
    for metric in PERFECT[task]:
        assert results[task][f"{metric},none"] == 0.0, (task, metric)


def test_group_runs_all_four_tasks(task_manager):
    results = _evaluate(FakeLM(correct=True), [GROUP_NAME], task_manager, limit=3)
    for task in ("squad_v1", "imdb_sample2500", "boolq_sl", "bibleqa"):
        for metric, perfect in PERFECT[task].items():
            assert results[task][f"{metric},none"] == perfect, (task, metric)


def test_bibleqa_prompt_is_the_seed_prompt_over_all_886_questions(task_manager):
    lm = FakeLM(correct=True)
    results = _evaluate(lm, ["bibleqa"], task_manager, limit=None)
    assert results["bibleqa"]["lenient_acc,none"] == 1.0
    assert results["bibleqa"]["first_line_word_match,none"] == 1.0
    assert results["bibleqa"]["strict_em,none"] == 1.0  # every gold answer is non-empty after normalization
    assert len(lm.prompts) == 886
    # seed 003, "Model Performance": its first line and three Q/A examples, each line its own paragraph
    expected_first = (
        "The following are questions and answers about the Bible.\n\n"
        "Q: Who was the first man?\n\nA: Adam\n\n"
        "Q: What was special about Samson?\n\nA: He was very strong\n\n"
        "Q: Where was Jesus born?\n\nA: Bethlehem\n\n"
        "Q: What was the name of Jesus' mother?\n\nA:"
    )
    assert lm.prompts[0] == expected_first


def test_squad_prompt_is_two_shot_and_generation_stops_at_newline(task_manager):
    task = task_manager.load(["squad_v1"])["tasks"]["squad_v1"]
    task.build_all_requests(limit=1, rank=0, world_size=1)
    prompt, generation_kwargs = task.instances[0].args
    assert prompt.count("\n\nAnswer:") == 3  # two solved examples + the question asked
    assert prompt.endswith("Question: Which NFL team represented the AFC at Super Bowl 50?\n\nAnswer:")
    assert generation_kwargs["until"] == ["\n"] and generation_kwargs["do_sample"] is False


def test_choice_prompts_and_answer_words(task_manager):
    lm = FakeLM(correct=True)
    _evaluate(lm, ["imdb_sample2500", "boolq_sl"], task_manager, limit=1)
    imdb_prompt = next(p for p in lm.prompts if p.startswith("Review: "))
    assert imdb_prompt.endswith("\nSentiment:") and "<br />" not in imdb_prompt
    boolq_prompt = next(p for p in lm.prompts if p.endswith("\nOdgovor:"))
    assert re.search(r"\nVprašanje: [^\n]+\?\nOdgovor:$", boolq_prompt)
    tasks = task_manager.load(["imdb_sample2500", "boolq_sl"])["tasks"]
    imdb = tasks["imdb_sample2500"]
    assert imdb.doc_to_choice(imdb.test_docs()[0]) == ["negative", "positive"]
    assert tasks["boolq_sl"].doc_to_choice(tasks["boolq_sl"].test_docs()[0]) == ["ne", "da"]


def test_task_sizes_match_the_data(task_manager):
    tasks = task_manager.load(["squad_v1", "boolq_sl", "boolq_sl_humant", "imdb_sample2500", "bibleqa"])["tasks"]
    assert len(tasks["squad_v1"].eval_docs) == 10570
    assert len(tasks["boolq_sl"].eval_docs) == 3270
    assert len(tasks["boolq_sl_humant"].eval_docs) == 18
    assert len(tasks["imdb_sample2500"].eval_docs) == 2500
    assert len(tasks["bibleqa"].eval_docs) == 886


def test_data_dir_from_metadata_and_a_malformed_file_named(tmp_path):
    from peft_efficiency.data import DataFileError

    missing = TaskManager(include_path=str(tasks_path()), include_defaults=False, metadata={"data_dir": str(tmp_path / "nope")})
    with pytest.raises(DataFileError, match="nope"):
        missing.load(["bibleqa"])
    (tmp_path / "bibleqa").mkdir()
    (tmp_path / "bibleqa" / "1001.csv").write_text("garbage\n", encoding="utf-8")
    malformed = TaskManager(include_path=str(tasks_path()), include_defaults=False, metadata={"data_dir": str(tmp_path)})
    with pytest.raises(DataFileError, match="1001.csv"):
        malformed.load(["bibleqa"])
