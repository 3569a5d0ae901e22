"""Turn what the data loaders return into the `datasets.DatasetDict` a `custom_dataset` hook must give lm-eval."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def as_dataset_dict(splits: Mapping[str, Any]):
    """Wrap split -> (Dataset | list of dict records) as a `datasets.DatasetDict`.

    Example:
        >>> as_dataset_dict({"test": [{"question": "Who?", "answer": "Adam"}]})["test"][0]["answer"]
        'Adam'
    """
    import datasets

    converted = {}
    for split, records in splits.items():
        if isinstance(records, datasets.Dataset):
            converted[split] = records
        elif hasattr(records, "to_dict") and hasattr(records, "columns"):  # a pandas DataFrame
            converted[split] = datasets.Dataset.from_pandas(records, preserve_index=False)
        else:
            converted[split] = datasets.Dataset.from_list(list(records))
    return datasets.DatasetDict(converted)
