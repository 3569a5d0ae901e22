"""The environment a run ran in: package versions, Python, platform, device, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from typing import Any

import torch

PACKAGES = ("peft-efficiency", "torch", "transformers", "peft", "accelerate", "datasets", "trl", "codecarbon",
            "lm_eval", "bitsandbytes", "deepspeed", "tokenizers", "numpy")


@lru_cache(maxsize=4)
def versions_of(names: tuple[str, ...]) -> dict[str, str | None]:
    """Installed version of each distribution (None if absent), read once per process per set of names
    (importlib.metadata scans every installed distribution: ~20 ms). Do not mutate the result."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def package_versions() -> dict[str, str | None]:
    return dict(versions_of(PACKAGES))


def device_description(device: torch.device | str | None) -> str:
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda" and torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def git_commit(cwd: str | None = None) -> str | None:
    """The commit checked out in `cwd` (default: the current folder), read once per folder and process."""
    return _git_commit_in(os.path.abspath(cwd or os.getcwd()))


@lru_cache(maxsize=8)
def _git_commit_in(folder: str) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=2)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def collect_environment(device: torch.device | str | None, world_size: int, mixed_precision: str | None,
                        distributed_type: str | None) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "device": device_description(device),
        "device_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "cpu_count": os.cpu_count(),
        "world_size": world_size,
        "mixed_precision": mixed_precision,
        "distributed_type": distributed_type,
        "git_commit": git_commit(),
    }
