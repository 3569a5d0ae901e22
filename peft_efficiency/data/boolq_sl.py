"""Slovene SuperGLUE BoolQ (Žagar & Robnik-Šikonja, LREC 2022): passage, yes/no question, answer.

Two translations of the English BoolQ: ``googlemt`` (Google machine translation of the full train 9,427 /
validation 3,270) and ``humant`` (the human-translated subsets, 92 / 18). Only local files are read: no official
Hub copy of Slovene SuperGLUE could be confirmed (searched for ``cjvt/slo_superglue``; only personal re-uploads
of unknown provenance exist), so without a data directory the loader raises :class:`DataUnavailableError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import datasets

from .hub import no_hub_copy
from .paths import DataFileError, local_file, resolve_data_dir
from .readers import read_jsonl

BOOLQ_SL_FILES = {
    ("googlemt", "train"): "boolq_sl/googlemt_train.jsonl.gz",
    ("googlemt", "validation"): "boolq_sl/googlemt_val.jsonl.gz",
    ("humant", "train"): "boolq_sl/humant_train.jsonl",
    ("humant", "validation"): "boolq_sl/humant_val.jsonl",
}
BOOLQ_SL_ORIGIN = (
    "the Slovene SuperGLUE release (CLARIN.SI; also in the GitHub repository SloLama/slobench_evaluation, "
    "data/SuperGLUE-GoogleMT and data/SuperGLUE-HumanT, json/BoolQ/*.jsonl) - see ../shared/data/boolq_sl/SOURCE.txt"
)
BOOLQ_SL_FEATURES = datasets.Features(
    {
        "idx": datasets.Value("int32"),
        "passage": datasets.Value("string"),
        "question": datasets.Value("string"),
        "label": datasets.ClassLabel(names=["False", "True"]),
    }
)


def load_boolq_sl(
    split: Literal["train", "validation"],
    translation: Literal["googlemt", "humant"] = "googlemt",
    data_dir: str | Path | None = None,
) -> datasets.Dataset:
    """Load Slovene BoolQ with columns ``idx``, ``passage``, ``question``, ``label`` (1 true, 0 false).

    Args:
        split: ``"train"`` or ``"validation"``.
        translation: ``"googlemt"`` (machine-translated, full size) or ``"humant"`` (human-translated subset).
        data_dir: folder laid out like ``../shared/data``; default ``$PEFT_EFFICIENCY_DATA_DIR``.

    Example:
        >>> ds = load_boolq_sl("validation", data_dir="/work/shared/data")  # doctest: +SKIP
        >>> len(ds), sum(ds["label"])  # doctest: +SKIP
        (3270, 2033)
    """
    relative = BOOLQ_SL_FILES.get((translation, split))
    if relative is None:
        raise ValueError(
            f"Slovene BoolQ has no split {split!r} in translation {translation!r}; "
            f"choose split from ['train', 'validation'] and translation from ['googlemt', 'humant']"
        )
    root = resolve_data_dir(data_dir)
    if root is None:
        raise no_hub_copy(relative, BOOLQ_SL_ORIGIN)
    path = local_file(root, relative)
    records = read_jsonl(path, {"idx": int, "passage": str, "question": str, "label": (bool, int)})
    for number, record in enumerate(records, start=1):
        if record["label"] not in (0, 1):  # True == 1 and False == 0, so bools pass
            raise DataFileError(f"data file {path}: record {number} has label {record['label']!r}, expected true/false")
    return datasets.Dataset.from_dict(
        {
            "idx": [r["idx"] for r in records],
            "passage": [r["passage"] for r in records],
            "question": [r["question"] for r in records],
            "label": [int(r["label"]) for r in records],
        },
        features=BOOLQ_SL_FEATURES,
    )
