"""`peft-efficiency tasks-path` and `peft-efficiency eval` (the lm-eval pass-through)."""

from __future__ import annotations

import pytest

from peft_efficiency.cli import main as cli_main
from peft_efficiency.harness import TASK_NAMES, tasks_path
from peft_efficiency.harness.cli_eval import build_argv


def test_tasks_path_prints_the_folder_holding_every_task(capsys):
    assert cli_main(["tasks-path"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(tasks_path())
    found = {p.stem for p in tasks_path().rglob("*.yaml")}
    assert set(TASK_NAMES) | {"peft_efficiency"} <= found


def test_eval_adds_the_include_path_and_passes_the_rest_unchanged():
    argv = ["--model", "hf", "--model_args", "pretrained=x,peft=y", "--tasks", "bibleqa", "--limit", "5"]
    assert build_argv(argv) == [*argv, "--include_path", str(tasks_path())]
    assert build_argv(["--help"]) == ["--help"]


@pytest.mark.parametrize("flag", [["--include_path", "mine"], ["--include_path=mine"]])
def test_eval_refuses_a_second_include_path(flag, capsys):
    assert cli_main(["eval", "--tasks", "imdb", *flag]) == 2
    assert "accepts only one" in capsys.readouterr().err


def test_eval_ls_lists_the_bundled_tasks(capsys):
    pytest.importorskip("lm_eval")
    assert cli_main(["eval", "ls", "tasks"]) == 0
    listing = capsys.readouterr().out
    for name in TASK_NAMES:
        assert name in listing
