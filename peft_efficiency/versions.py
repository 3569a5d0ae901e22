"""Which versions of its dependencies peft-efficiency supports, checked in one place.

The supported ranges are the distribution's own requirements (pyproject.toml, as installed: `Requires-Dist`), so
they cannot drift from what pip enforces; `make test-floors` runs the suite at their lower ends and `make
test-latest` at the newest releases. Two kinds of check raise `UnsupportedVersionError`, one line naming the
package, the version found and the version needed:

- `check_supported(...)`: an installed dependency outside the range peft-efficiency declares (a user who forced
  an old transformers past pip's resolver), raised at import or when a Trainer's callbacks are built;
- `require_version(...)`: a feature that needs more than the floor (a method that needs a newer peft), raised
  before any model or data is loaded.

Example:
    >>> from peft_efficiency.versions import is_version
    >>> is_version("packaging", ">=20")
    True
"""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

DISTRIBUTION = "peft-efficiency"
# What the callbacks meet in a Trainer's environment (trl and codecarbon when installed); lm-eval is checked where
# the bundled tasks are handed to it.
CORE_PACKAGES = ("transformers", "peft", "accelerate", "datasets", "trl", "codecarbon")


class UnsupportedVersionError(ImportError):
    """An installed dependency outside the supported range, or older than a feature needs; the message names the
    package, the version found, the version needed and the pip command that fixes it."""


def package_version(package: str) -> str | None:
    """The installed version of distribution `package` (e.g. "lm-eval"), or None when it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _parse(version: str) -> Version | None:
    try:
        return Version(version)
    except InvalidVersion:
        return None


def is_version(package: str, specifier: str) -> bool:
    """True when `package` is installed at a version inside `specifier` (e.g. `is_version("peft", ">=0.17")`).

    A local build tag (torch 2.13.0+cpu) and pre-releases count as the release they belong to."""
    found = package_version(package)
    parsed = _parse(found) if found is not None else None
    return parsed is not None and SpecifierSet(specifier).contains(parsed, prereleases=True)


@lru_cache(maxsize=None)
def _declared() -> dict[str, SpecifierSet]:
    """Package name -> the intersection of every range peft-efficiency's metadata declares for it (extras too)."""
    try:
        lines = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return {}  # a source tree that was never installed: nothing to read the ranges from
    ranges: dict[str, SpecifierSet] = {}
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        name = canonicalize_name(requirement.name)
        ranges[name] = ranges.get(name, SpecifierSet()) & requirement.specifier
    return ranges


def supported_range(package: str) -> str | None:
    """The range of `package` peft-efficiency declares (e.g. ">=4.53.3"), or None when it declares none."""
    specifier = _declared().get(canonicalize_name(package))
    return str(specifier) if specifier is not None and str(specifier) else None


def unsupported_message(package: str, found: str, needed: str, needed_for: str | None = None) -> str:
    """The one line every version error reads: package, version found, version needed, fix."""
    subject = f"{needed_for} needs" if needed_for else "peft-efficiency supports"
    return (f"{subject} {package}{needed}, but {package} {found} is installed. "
            f"Fix: pip install '{package}{needed}'")


def check_supported(*packages: str) -> None:
    """Raise `UnsupportedVersionError` for the first installed package outside the range peft-efficiency declares
    (`CORE_PACKAGES` when none are named). A package that is not installed is left to the import that needs it."""
    for package in packages or CORE_PACKAGES:
        needed = supported_range(package)
        found = package_version(package)
        if needed is None or found is None:
            continue
        parsed = _parse(found)
        if parsed is not None and not SpecifierSet(needed).contains(parsed, prereleases=True):
            raise UnsupportedVersionError(unsupported_message(package, found, needed))


def require_version(package: str, specifier: str, needed_for: str) -> None:
    """Raise `UnsupportedVersionError` unless `package` is installed inside `specifier`.

    Args:
        package: distribution name, e.g. "peft".
        specifier: the versions that work, e.g. ">=0.17".
        needed_for: what needs them, e.g. "the loha method"; starts the message.
    """
    try:
        SpecifierSet(specifier)
    except InvalidSpecifier as exc:
        raise ValueError(f"{needed_for}: {specifier!r} is not a version specifier ({exc})") from exc
    if is_version(package, specifier):
        return
    found = package_version(package)
    if found is None:
        raise UnsupportedVersionError(f"{needed_for} needs {package}{specifier}, which is not installed. "
                                      f"Fix: pip install '{package}{specifier}'")
    raise UnsupportedVersionError(unsupported_message(package, found, specifier, needed_for))


def unmet_requirement(requirement: str) -> str | None:
    """None when `requirement` (e.g. "peft>=0.17") is met here, else why not, e.g. "needs peft>=0.17, found 0.16.0".

    Used by the test suite's `@pytest.mark.requires(...)`: a test that needs more than a floor says so by name."""
    parsed = Requirement(requirement)
    if is_version(parsed.name, str(parsed.specifier) or ">=0"):
        return None
    found = package_version(parsed.name)
    return f"needs {parsed.name}{parsed.specifier}, found {found if found else 'none installed'}"
