"""Data loaders for the seed experiments: local files from the data directory, else the public Hub copy.

Every loader takes ``data_dir`` (a folder laid out like ``../shared/data``; default ``$PEFT_EFFICIENCY_DATA_DIR``)
and returns a :class:`datasets.Dataset` held in memory. A missing or malformed local file raises
:class:`DataFileError`; no local file and no reachable Hub copy raises :class:`DataUnavailableError`.

Example:
    >>> from peft_efficiency.data import load_imdb
    >>> train = load_imdb("train", data_dir="../shared/data")  # doctest: +SKIP
"""

from .asv import load_asv_bible, verse_id
from .bibleqa import load_bibleqa, split_answer
from .boolq_sl import load_boolq_sl
from .hub import hub_offline
from .imdb import load_imdb
from .paths import DATA_DIR_ENV, DataFileError, DataUnavailableError, resolve_data_dir
from .readers import read_csv, read_json, read_jsonl
from .squad import load_squad_v1, split_by_title

__all__ = [
    "DATA_DIR_ENV",
    "DataFileError",
    "DataUnavailableError",
    "hub_offline",
    "load_asv_bible",
    "load_bibleqa",
    "load_boolq_sl",
    "load_imdb",
    "load_squad_v1",
    "read_csv",
    "read_json",
    "read_jsonl",
    "resolve_data_dir",
    "split_answer",
    "split_by_title",
    "verse_id",
]
