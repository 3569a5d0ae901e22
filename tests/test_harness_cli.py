"""`peft-efficiency tasks-path` and `peft-efficiency eval` (the lm-eval pass-through)."""

from __future__ import annotations

from pathlib import Path

import pytest

from peft_efficiency.cli import main as cli_main
from peft_efficiency.harness import TASK_NAMES, tasks_path


def test_tasks_path_prints_the_folder_holding_every_task(capsys):
    assert cli_main(["tasks-path"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(tasks_path())
    found = {p.stem for p in tasks_path().rglob("*.yaml")}
    assert set(TASK_NAMES) | {"peft_efficiency"} <= found


MY_TASK = """task: my_task
dataset_path: json
dataset_kwargs:
  data_files:
    test: questions.jsonl
test_split: test
output_type: generate_until
doc_to_text: "{{question}}"
doc_to_target: "{{answer}}"
metric_list:
  - metric: exact_match
"""


def test_eval_accepts_the_users_include_path_beside_the_bundled_tasks(tmp_path: Path, capsys) -> None:
    pytest.importorskip("lm_eval")
    (tmp_path / "my_task.yaml").write_text(MY_TASK, encoding="utf-8")
    assert cli_main(["eval", "ls", "tasks", "--include_path", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert str(tmp_path / "my_task.yaml") in listing
    assert str(tasks_path() / "bibleqa" / "bibleqa.yaml") in listing


def test_eval_ls_lists_the_bundled_tasks(capsys):
    pytest.importorskip("lm_eval")
    assert cli_main(["eval", "ls", "tasks"]) == 0
    listing = capsys.readouterr().out
    for name in TASK_NAMES:
        assert name in listing
