"""The lock (requirements/lock.txt) matches pyproject.toml, the environment under test was installed from it, and
the floors environment (make test-floors) holds the declared floors."""

from __future__ import annotations

import copy
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from lock_helpers import LOCK_FILE, lock_mismatches, parse_lock, read_pyproject


def test_lock_matches_pyproject():
    assert lock_mismatches(read_pyproject(), LOCK_FILE.read_text(encoding="utf-8")) == []


def test_a_dependency_added_to_pyproject_only_is_named():
    pyproject = copy.deepcopy(read_pyproject())
    pyproject["project"]["optional-dependencies"]["dev"].append("hypothetical-new-package>=1.0")
    problems = lock_mismatches(pyproject, LOCK_FILE.read_text(encoding="utf-8"))
    assert problems == ["hypothetical-new-package: required by pyproject.toml but not in the lock (run `make lock`)"]


def test_a_raised_floor_in_pyproject_is_named():
    pyproject = copy.deepcopy(read_pyproject())
    deps = pyproject["project"]["dependencies"]
    deps[:] = [("transformers>=99" if d.startswith("transformers") else d) for d in deps]
    problems = lock_mismatches(pyproject, LOCK_FILE.read_text(encoding="utf-8"))
    pinned = parse_lock(LOCK_FILE.read_text(encoding="utf-8"))["transformers"].version
    assert problems == [f"transformers: the lock pins {pinned}, pyproject.toml asks >=99 (run `make lock`)"]


def test_a_dependency_dropped_from_pyproject_but_left_in_the_lock_is_named():
    pyproject = copy.deepcopy(read_pyproject())
    for extra in pyproject["project"]["optional-dependencies"].values():
        extra[:] = [d for d in extra if not d.startswith("jsonschema")]
    problems = lock_mismatches(pyproject, LOCK_FILE.read_text(encoding="utf-8"))
    assert "jsonschema: the lock says pyproject.toml requires it, but pyproject.toml does not (run `make lock`)" in problems


def test_an_orphan_pin_is_named():
    text = LOCK_FILE.read_text(encoding="utf-8") + "left-over-package==1.0\n    # via no-such-parent\n"
    assert lock_mismatches(read_pyproject(), text) == [
        "left-over-package: nothing in the lock or pyproject.toml requires it (run `make lock`)"]


def _installed_from_lock() -> bool:
    return (Path(sys.prefix) / "lock-used.txt").is_file()


@pytest.mark.skipif(not _installed_from_lock(), reason="this environment was not installed from the lock (make test-latest)")
def test_the_environment_holds_exactly_the_locked_versions():
    pins = parse_lock(LOCK_FILE.read_text(encoding="utf-8"))
    wrong = []
    for name, pin in pins.items():
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{name}: locked {pin.version}, not installed")
            continue
        if version != pin.version and not (name == "torch" and version.split("+")[0] == pin.version.split("+")[0]):
            wrong.append(f"{name}: locked {pin.version}, installed {version}")
    assert wrong == []
    assert canonicalize_name("torch") in pins and pins["torch"].version.endswith("+cpu")


def test_the_canary_without_the_package_index_says_so(tmp_path):
    import os
    import subprocess

    missing_index = (tmp_path / "no-index").as_uri()  # an index location that does not exist: nothing answers
    env = {**os.environ, "PIP_INDEX_URL": missing_index}
    out = subprocess.run(["make", "-s", "test-latest", f"LATEST_VENV={tmp_path / 'venv'}"], cwd=LOCK_FILE.parents[1],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert f"make test-latest: the package index {missing_index} cannot be reached (" in out.stderr
    assert "The canary installs the newest releases, so it needs network access to the index" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "venv").exists()


def test_the_floors_check_without_the_package_index_says_so(tmp_path):
    import os
    import subprocess

    missing_index = (tmp_path / "no-index").as_uri()
    env = {**os.environ, "PIP_INDEX_URL": missing_index}
    out = subprocess.run(["make", "-s", "test-floors", f"FLOORS_VENV={tmp_path / 'venv'}"], cwd=LOCK_FILE.parents[1],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert f"make test-floors: the package index {missing_index} cannot be reached (" in out.stderr
    assert "The floors check installs the lowest releases pyproject.toml allows" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "venv").exists()


def _floors_resolution() -> Path:
    return Path(sys.prefix) / "floors.txt"  # written into the venv by `make test-floors`


@pytest.mark.skipif(not _floors_resolution().is_file(), reason="this environment was not built by make test-floors")
def test_the_floors_environment_holds_every_declared_floor():
    """Each direct dependency is installed at exactly the lower bound pyproject.toml declares (torch: as TORCH_SPEC)."""
    from lock_helpers import project_requirements

    wrong = []
    for requirement in project_requirements(read_pyproject(), ("dev", "demo")):
        floors = [s.version for s in requirement.specifier if s.operator == ">="]
        if requirement.name == "torch" or not floors:
            continue
        installed = metadata.version(requirement.name)
        if Version(installed) != Version(floors[0]):
            wrong.append(f"{requirement.name}: floor {floors[0]}, installed {installed}")
    assert wrong == []
