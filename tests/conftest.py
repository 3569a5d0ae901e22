"""Shared fixtures: the real data directory and an offline Hugging Face environment for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data folder: $PEFT_EFFICIENCY_DATA_DIR, else ../shared/data beside the repository."""
    path = Path(os.environ.get("PEFT_EFFICIENCY_DATA_DIR") or DEFAULT_DATA_DIR)
    if not path.is_dir() and os.environ.get("PEFT_EFFICIENCY_SKIP_MISSING_DATA") == "1":
        pytest.skip(f"real data folder {path} is missing (PEFT_EFFICIENCY_SKIP_MISSING_DATA=1)")
    if not path.is_dir():
        pytest.fail(f"real data folder {path} is missing: set PEFT_EFFICIENCY_DATA_DIR to a folder laid out like ../shared/data")
    return path


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.requires("peft>=0.17")`: a test that needs more than a declared floor is skipped where the
    requirement is not met, the reason naming the version it needs and the one found (shown by `-ra`).
    `params=["bfd"]` limits it to the parametrized cases whose id has one of those parts."""
    from peft_efficiency.versions import unmet_requirement

    for item in items:
        case = set(item.callspec.id.split("-")) if hasattr(item, "callspec") else set()
        for mark in item.iter_markers("requires"):
            params = mark.kwargs.get("params")
            if params is not None and not case & set(params):
                continue
            for requirement in mark.args:
                reason = unmet_requirement(requirement)
                if reason:
                    item.add_marker(pytest.mark.skip(reason=reason))
