"""Read requirements/lock.txt (uv pip compile output) and compare it with pyproject.toml's requirements."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK_FILE = ROOT / "requirements" / "lock.txt"
PYPROJECT = ROOT / "pyproject.toml"
# The extras `make setup` installs; the other extras must be subsets of them (checked too), except these:
INSTALLED_EXTRAS = ("dev", "demo")
UNLOCKED_EXTRAS = {"quant": "bitsandbytes runs only on a CUDA GPU; make setup installs the CPU set"}
PROJECT_VIA = "peft-efficiency (pyproject.toml)"


@dataclass
class Pin:
    name: str
    version: str
    via: list[str] = field(default_factory=list)


def parse_lock(text: str) -> dict[str, Pin]:
    """name -> Pin, with the `# via` parents uv writes under each pin."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if match:
            current = Pin(canonicalize_name(match.group(1)), match.group(2))
            pins[current.name] = current
            continue
        via = re.match(r"^\s+#\s+(?:via\s+)?(\S.*)$", line)
        if current is not None and via and via.group(1).strip() != "via":
            current.via.append(via.group(1).strip())
    return pins


def project_requirements(pyproject: dict, extras: tuple[str, ...] | None = None) -> list[Requirement]:
    """The base dependencies and those of `extras` (every extra when None)."""
    project = pyproject["project"]
    optional = project.get("optional-dependencies", {})
    names = optional if extras is None else extras
    specs = list(project.get("dependencies", [])) + [spec for name in names for spec in optional.get(name, [])]
    return [Requirement(spec) for spec in specs]


def lock_mismatches(pyproject: dict, lock_text: str) -> list[str]:
    """Every way the lock disagrees with pyproject.toml, one line each naming the package; [] when in step."""
    pins = parse_lock(lock_text)
    problems = []
    installed = {canonicalize_name(r.name) for r in project_requirements(pyproject, INSTALLED_EXTRAS)}
    lockable = tuple(e for e in pyproject["project"].get("optional-dependencies", {}) if e not in UNLOCKED_EXTRAS)
    for requirement in project_requirements(pyproject, lockable):
        name = canonicalize_name(requirement.name)
        if name not in installed:
            problems.append(f"{requirement.name}: in an extra that `make setup` does not install ({', '.join(INSTALLED_EXTRAS)})")
        elif name not in pins:
            problems.append(f"{requirement.name}: required by pyproject.toml but not in the lock (run `make lock`)")
        elif not requirement.specifier.contains(pins[name].version, prereleases=True):
            problems.append(f"{requirement.name}: the lock pins {pins[name].version}, pyproject.toml asks {requirement.specifier} (run `make lock`)")
    for pin in pins.values():
        if PROJECT_VIA in pin.via and pin.name not in installed:
            problems.append(f"{pin.name}: the lock says pyproject.toml requires it, but pyproject.toml does not (run `make lock`)")
        parents = [p for p in pin.via if p != PROJECT_VIA and not p.startswith("-c ") and not p.startswith("-r ")]
        orphan = [p for p in parents if canonicalize_name(p) not in pins]
        if not pin.via or (orphan and len(orphan) == len(pin.via)):
            problems.append(f"{pin.name}: nothing in the lock or pyproject.toml requires it (run `make lock`)")
    return problems


def read_pyproject(path: Path = PYPROJECT) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))
