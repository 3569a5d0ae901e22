"""Where the local data lives, and the two errors every loader raises.

The data directory is laid out like ``../shared/data`` (one folder per data set: ``imdb/``, ``boolq_sl/``,
``squad_v1.1/``, ``bibleqa/``, ``asv_bible/``). It comes from the ``data_dir`` argument (``--data-dir`` on the
command line), else from the environment variable ``PEFT_EFFICIENCY_DATA_DIR``; without either, loaders fall back
to the public Hugging Face Hub data set where one exists.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "PEFT_EFFICIENCY_DATA_DIR"
DATA_DIR_FIX = (
    f"set {DATA_DIR_ENV} (or pass --data-dir / data_dir=) to a folder laid out like ../shared/data"
)


class DataFileError(ValueError):
    """A local data file is missing or malformed; the message names the file and what is wrong."""


class DataUnavailableError(RuntimeError):
    """No local file and no reachable Hub copy; the message says what was looked for and how to fix it."""


def resolve_data_dir(data_dir: str | Path | None = None) -> Path | None:
    """Return the data directory: the argument, else ``$PEFT_EFFICIENCY_DATA_DIR``, else ``None``.

    Args:
        data_dir: a folder laid out like ``../shared/data``; ``None`` or ``""`` means "use the environment".

    Raises:
        DataFileError: the chosen folder does not exist (the message says where the name came from).

    Example:
        >>> resolve_data_dir(None)  # doctest: +SKIP
        PosixPath('/work/shared/data')
    """
    if data_dir is not None and str(data_dir) != "":
        source = "the data_dir argument (--data-dir)"
        chosen = data_dir
    else:
        chosen = os.environ.get(DATA_DIR_ENV, "")
        source = f"the environment variable {DATA_DIR_ENV}"
        if not chosen:
            return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise DataFileError(f"data directory {path} (from {source}) {what}: {DATA_DIR_FIX}")
    return path


def local_file(data_dir: Path, relative: str, fallback: str | None = None) -> Path:
    """Return ``data_dir / relative``, raising :class:`DataFileError` naming it when it is absent.

    Args:
        data_dir: the resolved data directory.
        relative: the file's path inside it, e.g. ``"imdb/imdb_test_2500.jsonl.gz"``.
        fallback: what the loader reads without a data directory (named in the advice), ``None`` if nothing.

    Example:
        >>> local_file(Path("/work/shared/data"), "imdb/imdb_test_2500.jsonl.gz")  # doctest: +SKIP
    """
    path = data_dir / relative
    if not path.is_file():
        hub = f", or unset it to use {fallback}" if fallback else ""
        raise DataFileError(
            f"data file {path} is missing: the data directory {data_dir} must hold {relative}, as ../shared/data "
            f"does. Fix: point {DATA_DIR_ENV} (or --data-dir / data_dir=) at such a folder{hub}"
        )
    return path
