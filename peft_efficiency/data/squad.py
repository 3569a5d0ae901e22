"""SQuAD v1.1 (Rajpurkar et al. 2016) with the Hugging Face ``squad`` columns, and an offline train/eval split.

Local file: ``squad_v1.1/dev-v1.1.json.gz`` (the official dev set: 48 articles, 10,570 questions). There is no
local train split: offline recipes train and evaluate on :func:`split_by_title` of the dev articles.
Hub fallback: ``rajpurkar/squad`` (train 87,599 / validation 10,570).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal

import datasets

from .hub import load_hub_split
from .paths import DataFileError, local_file, resolve_data_dir
from .readers import check_fields, read_json

SQUAD_HUB_NAME = "rajpurkar/squad"
SQUAD_DEV_FILE = "squad_v1.1/dev-v1.1.json.gz"
SQUAD_FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "title": datasets.Value("string"),
        "context": datasets.Value("string"),
        "question": datasets.Value("string"),
        "answers": datasets.Sequence(
            {"text": datasets.Value("string"), "answer_start": datasets.Value("int32")}
        ),
    }
)


def _flatten(document: Any, path: Path) -> dict[str, list]:
    """Turn the official nested ``{"data": [article...]}`` layout into one row per question."""
    check_fields(document, {"data": list}, path, "the top-level object")
    columns: dict[str, list] = {name: [] for name in SQUAD_FEATURES}
    for a_no, article in enumerate(document["data"], start=1):
        check_fields(article, {"title": str, "paragraphs": list}, path, f"article {a_no}")
        for p_no, paragraph in enumerate(article["paragraphs"], start=1):
            where = f"article {a_no} ({article['title']!r}) paragraph {p_no}"
            check_fields(paragraph, {"context": str, "qas": list}, path, where)
            for q_no, qa in enumerate(paragraph["qas"], start=1):
                check_fields(qa, {"id": str, "question": str, "answers": list}, path, f"{where} question {q_no}")
                texts, starts = [], []
                for n_no, answer in enumerate(qa["answers"], start=1):
                    where_answer = f"{where} question {q_no} answer {n_no}"
                    check_fields(answer, {"text": str, "answer_start": int}, path, where_answer)
                    texts.append(answer["text"])
                    starts.append(answer["answer_start"])
                if not texts:
                    raise DataFileError(f"data file {path}: {where} question {q_no} (id {qa['id']}) has no answers")
                columns["id"].append(qa["id"])
                columns["title"].append(article["title"])
                columns["context"].append(paragraph["context"])
                columns["question"].append(qa["question"])
                columns["answers"].append({"text": texts, "answer_start": starts})
    if not columns["id"]:
        raise DataFileError(f"data file {path} holds no questions")
    return columns


def load_squad_v1(
    split: Literal["train", "validation"] = "validation", data_dir: str | Path | None = None
) -> datasets.Dataset:
    """Load SQuAD v1.1 with columns ``id``, ``title``, ``context``, ``question``, ``answers``.

    ``answers`` is ``{"text": [...], "answer_start": [...]}`` (every gold answer), as in the Hub ``squad`` set.

    Args:
        split: ``"validation"`` (local or Hub) or ``"train"`` (Hub only; offline use :func:`split_by_title`).
        data_dir: folder laid out like ``../shared/data``; default ``$PEFT_EFFICIENCY_DATA_DIR``, else the Hub.

    Example:
        >>> dev = load_squad_v1("validation", "/work/shared/data")  # doctest: +SKIP
        >>> train, held_out = split_by_title(dev)  # doctest: +SKIP
    """
    if split not in ("train", "validation"):
        raise ValueError(f"SQuAD v1.1 split {split!r} does not exist; choose 'train' or 'validation'")
    root = resolve_data_dir(data_dir)
    if root is None:
        return load_hub_split(SQUAD_HUB_NAME, split, looked_for=SQUAD_DEV_FILE)
    if split == "train":
        raise DataFileError(
            f"the data directory {root} holds only the SQuAD v1.1 dev set ({SQUAD_DEV_FILE}), no train split: "
            f"train offline on peft_efficiency.data.split_by_title(load_squad_v1('validation')), which splits "
            f"the dev articles by title into a train and an eval part, or unset the data directory to use the Hub's "
            f"'{SQUAD_HUB_NAME}' train split"
        )
    path = local_file(root, SQUAD_DEV_FILE, f"the Hub data set '{SQUAD_HUB_NAME}'")
    return datasets.Dataset.from_dict(_flatten(read_json(path), path), features=SQUAD_FEATURES)


def split_by_title(
    ds: datasets.Dataset, eval_fraction: float = 0.2, seed: int = 0
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Split a SQuAD-style data set by article ``title`` into (train, eval): no article lands in both.

    This is the documented offline train/eval split of the dev set: the distinct titles (in order of first
    appearance) are shuffled with ``random.Random(seed)`` and the first ``round(eval_fraction * n_titles)``
    (at least 1, at most ``n_titles - 1``) go to eval. Rows keep their original order within each part.

    Args:
        ds: a data set with a ``title`` column (e.g. :func:`load_squad_v1`).
        eval_fraction: share of the articles held out for evaluation, strictly between 0 and 1.
        seed: seed of the shuffle; the same seed always gives the same split.

    Example:
        >>> train, held_out = split_by_title(load_squad_v1("validation"), eval_fraction=0.2)  # doctest: +SKIP
        >>> len(set(train["title"])), len(set(held_out["title"]))  # doctest: +SKIP
        (38, 10)
    """
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be strictly between 0 and 1, got {eval_fraction}")
    if "title" not in ds.column_names:
        raise ValueError(f"split_by_title needs a 'title' column; the data set has {ds.column_names}")
    titles = ds["title"]
    distinct = list(dict.fromkeys(titles))
    if len(distinct) < 2:
        raise ValueError(f"split_by_title needs at least 2 distinct titles, the data set has {len(distinct)}")
    shuffled = distinct[:]
    random.Random(seed).shuffle(shuffled)
    n_eval = min(max(1, round(eval_fraction * len(distinct))), len(distinct) - 1)
    eval_titles = set(shuffled[:n_eval])
    train_rows = [i for i, title in enumerate(titles) if title not in eval_titles]
    eval_rows = [i for i, title in enumerate(titles) if title in eval_titles]
    return ds.select(train_rows), ds.select(eval_rows)
