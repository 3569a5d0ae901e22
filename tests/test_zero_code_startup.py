"""The start-up hook itself: what it costs and imports, how `peft-efficiency run` sets up a command (sitecustomize
chained, options as variables, one-line errors), and that the .pth ships in wheels and editable installs (built
here from a copy of the source, installed into a scratch environment)."""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PTH = "peft_efficiency_startup.pth"
SHOW = "import json, sys; print(json.dumps(sorted(sys.modules)))"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEFT_EFFICIENCY_") and k != "PYTHONPATH"}
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra}


def _python(code: str, cwd: Path, env: dict[str, str], python: str = sys.executable,
            *flags: str) -> subprocess.CompletedProcess:
    done = subprocess.run([python, *flags, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_at_start_up_the_hook_imports_only_itself_and_costs_under_5_ms(tmp_path: Path) -> None:
    on = set(json.loads(_python(SHOW, tmp_path, _env()).stdout))
    off = set(json.loads(_python(SHOW, tmp_path, _env(PEFT_EFFICIENCY_STARTUP="0")).stdout))
    assert on - off == {"peft_efficiency_startup"} and not off - on
    cumulative_us = []
    for _ in range(5):
        err = _python("pass", tmp_path, _env(), sys.executable, "-X", "importtime").stderr
        cumulative_us.append(int(re.search(r"\|\s+(\d+) \|\s+peft_efficiency_startup\b", err).group(1)))
    assert statistics.median(cumulative_us) < 5000, cumulative_us  # import + install, microseconds


def test_nothing_is_imported_until_transformers_trainer_or_lm_eval_tasks_is(tmp_path: Path) -> None:
    probe = "import transformers, peft, torch; " + SHOW
    on = set(json.loads(_python(probe, tmp_path, _env()).stdout))
    off = set(json.loads(_python(probe, tmp_path, _env(PEFT_EFFICIENCY_STARTUP="0")).stdout))
    assert on - off == {"peft_efficiency_startup"}


USER_SITECUSTOMIZE = "import os\nos.environ['USER_SITECUSTOMIZE_RAN'] = __file__\n"
CHILD = """import json, os, sys, peft_efficiency_startup
print(json.dumps({"hook": peft_efficiency_startup.installed(), "user_sitecustomize": os.environ.get("USER_SITECUSTOMIZE_RAN"),
                  "sitecustomize": sys.modules["sitecustomize"].__file__,
                  "vars": {k: v for k, v in os.environ.items() if k.startswith("PEFT_EFFICIENCY_")}}))"""


def test_run_chains_the_users_sitecustomize_and_passes_its_options_as_variables(tmp_path: Path) -> None:
    user = tmp_path / "user_path"
    user.mkdir()
    (user / "sitecustomize.py").write_text(USER_SITECUSTOMIZE)
    env = _env(PYTHONPATH=str(user), PEFT_EFFICIENCY_STARTUP="0", PEFT_EFFICIENCY_LABELS="site=lab")
    done = subprocess.run([str(BIN / "peft-efficiency"), "run", "--task", "imdb", "--method", "lora", "--model-name", "m",
                           "--country", "svn", "--no-energy", "--label", "seed=1", "--", "python", "-c", CHILD],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout)
    assert child["hook"] is True  # on in the command although PEFT_EFFICIENCY_STARTUP=0 outside it
    assert child["user_sitecustomize"] == str(user / "sitecustomize.py") == child["sitecustomize"]
    assert {k: v for k, v in child["vars"].items() if k != "PEFT_EFFICIENCY_DATA_DIR"} == {
        "PEFT_EFFICIENCY_ATTACH": "1", "PEFT_EFFICIENCY_STARTUP": "1", "PEFT_EFFICIENCY_TASK": "imdb",
        "PEFT_EFFICIENCY_METHOD": "lora", "PEFT_EFFICIENCY_MODEL_NAME": "m", "PEFT_EFFICIENCY_COUNTRY": "SVN",
        "PEFT_EFFICIENCY_ENERGY": "0", "PEFT_EFFICIENCY_LABELS": "site=lab,seed=1"}


@pytest.mark.parametrize("argv, code, message", [
    ([], 2, "peft-efficiency run: no command given"),
    (["--task", "imdb", "--"], 2, "peft-efficiency run: no command given"),
    (["--", "no-such-command-zq"], 127, "peft-efficiency run: command not found: no-such-command-zq"),
    (["--label", "seed", "--", "python", "-c", "pass"], 2, "invalid label 'seed': expected KEY=VALUE"),
    (["--country", "Slovenia", "--", "python", "-c", "pass"], 2, "expected a 3-letter ISO code"),
])
def test_run_usage_errors_are_one_clear_message(argv: list[str], code: int, message: str, tmp_path: Path) -> None:
    done = subprocess.run([str(BIN / "peft-efficiency"), "run", *argv], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == code and message in done.stderr
    assert "Traceback" not in done.stderr


def _build(source: Path, hook: str, out: Path) -> Path:
    """Build a wheel ("build_wheel") or an editable wheel ("build_editable") of `source` with setuptools' backend."""
    code = f"import sys; from setuptools import build_meta; print(build_meta.{hook}(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", code, str(out)], cwd=source, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / done.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_the_pth_ships_in_wheels_and_editable_installs_and_run_works_without_it(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("setup.py", "pyproject.toml", "README.md", "peft_efficiency_startup.py"):
        shutil.copy2(REPO / name, source / name)
    for name in ("peft_efficiency", "harness_tasks"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)

    wheel = _build(source, "build_wheel", tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        line = archive.read(PTH).decode()
    assert {PTH, "peft_efficiency_startup.py", "peft_efficiency/zero_code/bootstrap/sitecustomize.py",
            "peft_efficiency/harness_tasks/bibleqa/bibleqa.yaml"} <= names
    assert line.startswith("import ") and "peft_efficiency_startup.install()" in line and line.count("\n") == 1
    editable = _build(source, "build_editable", tmp_path / "editable")
    with zipfile.ZipFile(editable) as archive:
        assert archive.read(PTH).decode() == line
        finder = next(n for n in archive.namelist() if n.endswith("_finder.py"))
        assert "'peft_efficiency_startup': " in archive.read(finder).decode()

    # a scratch environment: this one's packages on its path, peft-efficiency not installed in it
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    purelib = _python("import sysconfig; print(sysconfig.get_paths()['purelib'])", tmp_path, _env(), python).stdout
    purelib = Path(purelib.strip())
    (purelib / "_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = _env(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    installed = "import sys; print('peft_efficiency_startup' in sys.modules)"

    # pip install --target: a folder on PYTHONPATH, whose .pth files Python never reads; `run` still attaches
    target = tmp_path / "target"
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*pip, "--target", str(target), str(wheel)], check=True, timeout=300)
    with_target = {**env, "PYTHONPATH": str(target)}
    assert _python(installed, tmp_path, with_target, python).stdout.strip() == "False"
    done = subprocess.run([python, "-m", "peft_efficiency.cli", "run", "--", "python", "-c", installed], cwd=tmp_path,
                          env=with_target, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr

    # the wheel installed normally: the hook runs at start-up and lm-eval finds the bundled tasks in site-packages
    subprocess.run([*pip, str(wheel)], check=True, timeout=300)
    assert (purelib / PTH).is_file()
    assert _python(installed, tmp_path, env, python).stdout.strip() == "True"
    found = _python("from lm_eval.tasks import TaskManager; print(TaskManager().task_index['bibleqa'].yaml_path)",
                    tmp_path, env, python).stdout.strip().splitlines()[-1]
    assert Path(found) == purelib / "peft_efficiency" / "harness_tasks" / "bibleqa" / "bibleqa.yaml"
