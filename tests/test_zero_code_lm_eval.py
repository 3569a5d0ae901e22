"""No code change, lm-eval side: the literal `lm_eval ... --tasks bibleqa` finds the bundled task without
--include_path; a user's include path is honoured and wins a name clash (with `lm_eval` and `peft-efficiency eval`);
the hook stands down when lm-eval loads the `lm_eval.tasks` entry point itself (a fake lm-eval that does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from peft_efficiency.harness import tasks_path

BIN = Path(sys.executable).parent

USER_TASK = """task: bibleqa
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "Q: {{{{question}}}}\\nA:"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: 4
metric_list:
  - metric: exact_match
metadata:
  version: 99.0
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEFT_EFFICIENCY_") or k.endswith("DATA_DIR")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    return {**env, **extra}


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


def _results(output_path: Path) -> dict:
    return json.loads(next(output_path.rglob("results_*.json")).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, data_dir: Path) -> Path:
    """A random 2-layer Llama and a BPE tokenizer trained on BibleQA text, saved like any Hub model."""
    from harness_helpers import tiny_llama, tiny_tokenizer

    from peft_efficiency.data import load_bibleqa

    bible = load_bibleqa(data_dir=data_dir)
    tokenizer = tiny_tokenizer([f"Q: {q}\n\nA: {a}" for q, a in zip(bible["question"][:200], bible["answer"][:200])])
    folder = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama(vocab_size=len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture()
def user_tasks(tmp_path: Path) -> Path:
    """The user's own task folder, holding a task that is also called `bibleqa` (version 99)."""
    folder = tmp_path / "my_tasks"
    folder.mkdir()
    (folder / "questions.jsonl").write_text(json.dumps({"question": "Who was the first man?", "answer": "Adam"}) + "\n")
    (folder / "my_bibleqa.yaml").write_text(USER_TASK.format(data=folder / "questions.jsonl"), encoding="utf-8")
    return folder


def _listed_paths(listing: str) -> dict[str, str]:
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in listing.splitlines() if line.startswith("|")]
    return {row[0]: row[1] for row in rows if len(row) > 1}


@pytest.mark.slow
def test_the_literal_lm_eval_command_finds_bibleqa(tiny_model: Path, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    _run(["lm_eval", "--model", "hf", "--model_args", f"pretrained={tiny_model}", "--tasks", "bibleqa", "--limit", "2",
          "--output_path", str(out)], cwd=tmp_path, env=_env(PEFT_EFFICIENCY_DATA_DIR=str(data_dir)))
    results = _results(out)
    assert set(results["results"]["bibleqa"]) >= {"lenient_acc,none", "strict_em,none"}
    assert results["n-samples"]["bibleqa"]["effective"] == 2


@pytest.mark.slow
def test_lm_eval_under_run_finds_bibleqa_where_the_hook_is_otherwise_off(tiny_model: Path, data_dir: Path,
                                                                        tmp_path: Path) -> None:
    """With the start-up hook off, lm-eval 0.4 alone does not know bibleqa; `peft-efficiency run -- lm_eval ...` does."""
    command = ["lm_eval", "--model", "hf", "--model_args", f"pretrained={tiny_model}", "--tasks", "bibleqa", "--limit", "2"]
    env = _env(PEFT_EFFICIENCY_DATA_DIR=str(data_dir), PEFT_EFFICIENCY_STARTUP="0")
    alone = subprocess.run([*command, "--output_path", str(tmp_path / "alone")], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=600)
    assert alone.returncode != 0 and "bibleqa" in alone.stderr + alone.stdout
    out = tmp_path / "results"
    _run([str(BIN / "peft-efficiency"), "run", "--no-energy", "--", *command, "--output_path", str(out)], cwd=tmp_path, env=env)
    assert _results(out)["n-samples"]["bibleqa"]["effective"] == 2


@pytest.mark.slow
def test_the_users_include_path_is_honoured_and_wins_a_name_clash(tiny_model: Path, user_tasks: Path, data_dir: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "results"
    _run(["lm_eval", "--model", "hf", "--model_args", f"pretrained={tiny_model}", "--tasks", "bibleqa,squad_v1",
          "--include_path", str(user_tasks), "--limit", "1", "--output_path", str(out)],
         cwd=tmp_path, env=_env(PEFT_EFFICIENCY_DATA_DIR=str(data_dir)))
    results = _results(out)
    assert results["versions"] == {"bibleqa": 99.0, "squad_v1": 1.0}  # the user's bibleqa, the bundled squad_v1
    assert "exact_match,none" in results["results"]["bibleqa"]


@pytest.mark.slow
def test_peft_efficiency_eval_accepts_the_users_include_path(user_tasks: Path, tmp_path: Path) -> None:
    """Even with the start-up hook off, `eval` adds the bundled tasks itself, before the user's folder."""
    done = _run([str(BIN / "peft-efficiency"), "eval", "ls", "tasks", "--include_path", str(user_tasks)],
                cwd=tmp_path, env=_env(PEFT_EFFICIENCY_STARTUP="0"))
    paths = _listed_paths(done.stdout)
    assert paths["bibleqa"] == str(user_tasks / "my_bibleqa.yaml")
    assert paths["squad_v1"] == str(tasks_path() / "squad_v1" / "squad_v1.yaml")


FAKE_LM_EVAL_TASKS = '''
"""A fake lm-eval that loads task plugins from the `lm_eval.tasks` entry point, as the upstream pull request does:
built-in tasks first, then plugins, then include_path. FAKE_PLUGINS=import|init|never says when it loads them."""
import os
from importlib.metadata import entry_points
from pathlib import Path

BUILTIN = str(Path(__file__).resolve().parent / "builtin")


def plugin_folders():
    return [str(Path(next(iter(ep.load().__path__))).resolve()) for ep in entry_points(group="lm_eval.tasks")]


PLUGINS = plugin_folders() if os.environ["FAKE_PLUGINS"] == "import" else None


class TaskManager:
    def __init__(self, verbosity=None, include_path=None, include_defaults=True, metadata=None):
        plugins = PLUGINS if PLUGINS is not None else plugin_folders() if os.environ["FAKE_PLUGINS"] == "init" else []
        include = include_path if isinstance(include_path, (list, tuple)) else [include_path] if include_path else []
        self.indexed = ([BUILTIN] if include_defaults else []) + plugins + [str(Path(p).resolve()) for p in include]
'''
FAKE_LM_EVAL_MAIN = '''
import json, sys
from lm_eval.tasks import TaskManager
hooked = getattr(TaskManager.__init__, "__peft_efficiency_patched__", False)
print(json.dumps([hooked, TaskManager(include_path=sys.argv[1]).indexed, TaskManager(include_path=sys.argv[1]).indexed]))
'''


@pytest.mark.parametrize("plugins", ["import", "init", "never"])
def test_the_hook_stands_down_when_lm_eval_loads_the_entry_point(plugins: str, user_tasks: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake" / "lm_eval"
    (fake / "tasks").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "tasks" / "__init__.py").write_text(FAKE_LM_EVAL_TASKS)
    (fake / "__main__.py").write_text(FAKE_LM_EVAL_MAIN)
    done = _run([sys.executable, "-m", "lm_eval", str(user_tasks)], cwd=tmp_path,
                env=_env(PYTHONPATH=str(tmp_path / "fake"), FAKE_PLUGINS=plugins))
    builtin = str(fake.resolve() / "tasks" / "builtin")
    # the hook is on in every case; the bundled folder is indexed once, between lm-eval's own and the user's:
    # loaded by the fake itself ("import", "init"), or put there by the hook when this lm-eval has no plugins ("never")
    expected = [builtin, str(tasks_path()), str(user_tasks.resolve())]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [True, expected, expected]
