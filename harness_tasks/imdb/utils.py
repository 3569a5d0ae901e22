"""IMDb task hooks: the full test set (`imdb`) or the local 2,500-review sample (`imdb_sample2500`), binary F1.

The two are different document sets, so they are different tasks: a score is always named after what it scored.
"""

from __future__ import annotations

from typing import Any

from peft_efficiency.harness.docs import as_dataset_dict
from peft_efficiency.metrics import binary_f1_from_pairs

FULL_REVIEWS = 25_000  # per split of the original release (Maas et al. 2011), 12,500 negative + 12,500 positive
SAMPLE_FILE = "imdb/imdb_test_2500.jsonl.gz"


def load_full(**_metadata: Any):
    """`custom_dataset` hook of `imdb`: the 25,000 test reviews (and 25,000 train reviews for few-shot) from the Hub.

    The data directory is not read: it holds only the 2,500-review sample, which is the task `imdb_sample2500`.
    Offline, the `datasets` cache serves the Hub copy if it was fetched once before.
    """
    import datasets

    from peft_efficiency.data import DataFileError, DataUnavailableError
    from peft_efficiency.data.imdb import IMDB_HUB_NAME

    needs = f"task imdb scores the full IMDb test set ({FULL_REVIEWS:,} reviews), the Hub data set '{IMDB_HUB_NAME}'"
    try:
        hub = datasets.load_dataset(IMDB_HUB_NAME)
    except Exception as exc:  # offline without a cached copy, network, missing repo: one piece of advice
        raise DataUnavailableError(
            f"{needs}, which could not be loaded ({type(exc).__name__}: {exc}). Fix: run once with Hub access "
            f"(the datasets cache then serves offline runs), or run the task imdb_sample2500, which scores the "
            f"2,500-review sample {SAMPLE_FILE} of the data directory."
        ) from exc
    splits = {split: hub[split].select_columns(["text", "label"]) for split in ("train", "test")}
    for split, docs in splits.items():
        if len(docs) != FULL_REVIEWS:
            raise DataFileError(f"{needs}, but its '{split}' split has {len(docs):,} reviews, not {FULL_REVIEWS:,}")
    return as_dataset_dict(splits)


def load_sample2500(data_dir: str | None = None, **_metadata: Any):
    """`custom_dataset` hook of `imdb_sample2500`: the data directory's 2,500 test (and 2,500 train) reviews."""
    from peft_efficiency.data import DataUnavailableError, load_imdb, resolve_data_dir
    from peft_efficiency.data.paths import DATA_DIR_FIX

    root = resolve_data_dir(data_dir)
    if root is None:  # load_imdb would fall back to the Hub's full set: not what this task's name promises
        raise DataUnavailableError(
            f"task imdb_sample2500 scores the 2,500-review sample {SAMPLE_FILE} (few-shot pool "
            f"imdb/imdb_train_2500.jsonl.gz), which only a data directory holds; none was given. Fix: {DATA_DIR_FIX} "
            "(e.g. --metadata '{\"data_dir\": \"/path/to/data\"}'), or run the task imdb on the full test set."
        )
    return as_dataset_dict({split: load_imdb(split, data_dir=root) for split in ("train", "test")})


def process_docs(dataset):
    """Turn the raw `<br />` line breaks of the original files into newlines."""
    return dataset.map(lambda doc: {"text": doc["text"].replace("<br />", "\n").strip()})


def f1(items: list[tuple[int, int]]) -> float:
    """Aggregation: F1 of the positive class (label 1) over (gold, predicted) pairs."""
    return binary_f1_from_pairs(items)
