"""The Hugging Face Hub fallback used when no data directory is set.

Offline (``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` set to 1) it fails at once, without a network wait.
Remote code is never trusted: only data sets the ``datasets`` library can read as plain files are used.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .paths import DATA_DIR_ENV, DATA_DIR_FIX, DataUnavailableError

if TYPE_CHECKING:
    import datasets

OFFLINE_ENV_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
_TRUE_VALUES = {"1", "ON", "YES", "TRUE"}


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` asks for offline mode."""
    return any(os.environ.get(name, "").strip().upper() in _TRUE_VALUES for name in OFFLINE_ENV_VARS)


def _no_local(looked_for: str) -> str:
    return f"no local {looked_for} (no data directory: {DATA_DIR_ENV} is unset and no data_dir / --data-dir was given)"


def load_hub_split(hub_name: str, split: str, looked_for: str, config: str | None = None) -> datasets.Dataset:
    """Load ``split`` of the public Hub data set ``hub_name``, or raise :class:`DataUnavailableError`.

    Args:
        hub_name: the Hub data set id, e.g. ``"stanfordnlp/imdb"``.
        split: the split to load.
        looked_for: the local file that was not available, for the message (e.g. ``"imdb/imdb_test_2500.jsonl.gz"``).
        config: the Hub configuration name, if any.

    Example:
        >>> load_hub_split("stanfordnlp/imdb", "test", "imdb/imdb_test_2500.jsonl.gz")  # doctest: +SKIP
    """
    tried = f"the Hugging Face Hub data set '{hub_name}' (split '{split}')"
    if hub_offline():
        set_vars = [n for n in OFFLINE_ENV_VARS if os.environ.get(n, "").strip().upper() in _TRUE_VALUES]
        raise DataUnavailableError(
            f"{_no_local(looked_for)}, and {tried} cannot be fetched because {'/'.join(set_vars)}=1 (offline). "
            f"Fix: {DATA_DIR_FIX}, or go online (unset {'/'.join(set_vars)})."
        )
    import datasets

    try:
        return datasets.load_dataset(hub_name, config, split=split)
    except Exception as exc:  # network, authentication, missing repo: all end in the same advice
        raise DataUnavailableError(
            f"{_no_local(looked_for)}, and {tried} could not be loaded ({type(exc).__name__}: {exc}). "
            f"Fix: {DATA_DIR_FIX}, or check the network connection to the Hub."
        ) from exc


def no_hub_copy(looked_for: str, where_from: str) -> DataUnavailableError:
    """The error for a data set with no known public Hub copy: only local files will do."""
    return DataUnavailableError(
        f"{_no_local(looked_for)}, and this data set has no known public Hugging Face Hub copy to fall back on. "
        f"The files come from {where_from}. Fix: {DATA_DIR_FIX}."
    )
