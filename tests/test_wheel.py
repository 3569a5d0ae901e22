"""What the wheel and the sdist must hold: every module, the bundled lm-eval tasks (YAML, utils.py, READMEs), the
report schema, the start-up hook and its .pth, the console script and the lm-eval entry point. Built here, offline,
from a copy of the source with setuptools' own backend (the sdist first, then the wheel from the unpacked sdist, as
`python -m build` does)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from peft_efficiency.harness import GROUP_NAME, TASK_NAMES

REPO = Path(__file__).resolve().parents[1]
SOURCE_FILES = ("setup.py", "pyproject.toml", "README.md", "peft_efficiency_startup.py")
SOURCE_FOLDERS = ("peft_efficiency", "harness_tasks")
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
# Named because users reach them by path, not by import: missing, they fail only at run time.
MUST_HOLD = (
    "peft_efficiency_startup.py",
    "peft_efficiency_startup.pth",
    "peft_efficiency/report_schema.json",
    "peft_efficiency/compare/report.js",
    "peft_efficiency/compare/report.css",
    "peft_efficiency/zero_code/bootstrap/sitecustomize.py",
    "peft_efficiency/harness_tasks/__init__.py",
    f"peft_efficiency/harness_tasks/{GROUP_NAME}.yaml",
    "peft_efficiency/harness_tasks/bibleqa/bibleqa.yaml",
    "peft_efficiency/harness_tasks/bibleqa/utils.py",
    "peft_efficiency/harness_tasks/imdb/_imdb_common_yaml",
    "peft_efficiency/harness_tasks/boolq_sl/_boolq_sl_common_yaml",
    "peft_efficiency/harness_tasks/squad_v1/utils.py",
)


def expected_wheel_files(repo: Path) -> set[str]:
    """Every file the wheel must hold, from the source tree: the package, the tasks (under
    peft_efficiency/harness_tasks) and the start-up hook; plus `MUST_HOLD`."""
    expected = set(MUST_HOLD)
    for folder, prefix in (("peft_efficiency", "peft_efficiency"), ("harness_tasks", "peft_efficiency/harness_tasks")):
        for path in (repo / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                expected.add(f"{prefix}/{path.relative_to(repo / folder).as_posix()}")
    return expected


def missing_from(names: set[str], repo: Path) -> list[str]:
    """The files the wheel must hold that `names` (its listing) lacks, sorted."""
    return sorted(expected_wheel_files(repo) - names)


def _backend(hook: str, source: Path, out: Path) -> Path:
    code = f"import sys; from setuptools import build_meta; print(build_meta.{hook}(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", code, str(out)], cwd=source, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The sdist built from a copy of the source, and the wheel built from the unpacked sdist."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in SOURCE_FILES:
        shutil.copy2(REPO / name, source / name)
    for name in SOURCE_FOLDERS:
        shutil.copytree(REPO / name, source / name, ignore=SKIPPED)
    sdist = _backend("build_sdist", source, root / "dist")
    with tarfile.open(sdist) as archive:
        archive.extractall(root / "unpacked", filter="data")
    unpacked = next((root / "unpacked").iterdir())
    wheel = _backend("build_wheel", unpacked, root / "dist")
    return {"source": source, "sdist": sdist, "wheel": wheel}


@pytest.mark.slow
def test_the_wheel_built_from_the_sdist_holds_every_file(built):
    with zipfile.ZipFile(built["wheel"]) as archive:
        names = set(archive.namelist())
    assert missing_from(names, built["source"]) == []
    tasks = {n.split("/")[2] for n in names if n.startswith("peft_efficiency/harness_tasks/") and n.count("/") == 3}
    assert {"bibleqa", "boolq_sl", "imdb", "squad_v1"} <= tasks and len(TASK_NAMES) == 6


@pytest.mark.slow
def test_the_sdist_holds_the_source_the_wheel_is_built_from(built):
    with tarfile.open(built["sdist"]) as archive:
        names = {"/".join(n.split("/")[1:]) for n in archive.getnames()}
    for path in built["source"].rglob("*"):
        if path.is_file():
            assert path.relative_to(built["source"]).as_posix() in names


@pytest.mark.slow
def test_the_wheel_declares_the_console_script_the_task_entry_point_and_the_floors(built):
    with zipfile.ZipFile(built["wheel"]) as archive:
        dist_info = next(n.split("/")[0] for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
        requires = [line.split(":", 1)[1].strip() for line in archive.read(f"{dist_info}/METADATA").decode().splitlines()
                    if line.startswith("Requires-Dist:")]
    parser = configparser.ConfigParser()
    parser.read_string(entry_points)
    assert parser["console_scripts"]["peft-efficiency"] == "peft_efficiency.cli:main"
    assert parser["lm_eval.tasks"]["peft_efficiency"] == "peft_efficiency.harness_tasks"
    import tomllib

    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert [r.replace(" ", "") for r in requires[:len(declared)]] == [d.replace(" ", "") for d in declared]


def test_a_file_missing_from_the_wheel_is_named(tmp_path):
    repo = tmp_path / "repo"
    (repo / "peft_efficiency").mkdir(parents=True)
    (repo / "peft_efficiency" / "__init__.py").write_text("")
    (repo / "harness_tasks" / "bibleqa").mkdir(parents=True)
    (repo / "harness_tasks" / "bibleqa" / "bibleqa.yaml").write_text("task: bibleqa\n")
    complete = expected_wheel_files(repo)
    assert "peft_efficiency/harness_tasks/bibleqa/bibleqa.yaml" in complete and "peft_efficiency/__init__.py" in complete
    assert missing_from(complete, repo) == []
    assert missing_from(complete - {"peft_efficiency_startup.pth"}, repo) == ["peft_efficiency_startup.pth"]
    assert missing_from(complete - {"peft_efficiency/harness_tasks/bibleqa/bibleqa.yaml"}, repo) == [
        "peft_efficiency/harness_tasks/bibleqa/bibleqa.yaml"]
