"""BibleQA (Zhao & Liu, IJCNN 2018): 886 numbered Bible questions with short answers and verse references.

Local files: ``bibleqa/1001.csv`` (TAB-separated, UTF-8 with BOM, CR line ends, 886 pairs; the default) or
``bibleqa/1001-new.csv`` (comma-separated, lightly edited, 887 pairs: it adds question 970). Rows read
``"1. What was the name of Jesus' mother?" <TAB> "1. Mary (Matt 1:18)"``. There is no known Hub copy.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import datasets

from .hub import no_hub_copy
from .paths import DataFileError, local_file, resolve_data_dir
from .readers import read_csv

BIBLEQA_SOURCES = {"1001": ("bibleqa/1001.csv", "\t"), "1001-new": ("bibleqa/1001-new.csv", ",")}
BIBLEQA_ORIGIN = (
    "the GitHub repository helen-jiahe-zhao/BibleQA (data/bible_qa/) - see ../shared/data/bibleqa/SOURCE.txt"
)
BIBLEQA_FEATURES = datasets.Features(
    {
        "number": datasets.Value("int32"),
        "question": datasets.Value("string"),
        "answer_raw": datasets.Value("string"),
        "answer": datasets.Value("string"),
        "reference": datasets.Value("string"),
    }
)

_LIST_NUMBER = re.compile(r"^\s*(\d+)\.\s*")
# A citation: optional book number, a capitalised book name or abbreviation ("Matt", "1 Ki", "Song of Solomon"),
# then chapter[:verse] with optional ranges ("Gen 1:1-3", "Gen 1:31-2:3") and verse lists ("Matt 1:18, 20").
_BOOK = r"(?:[1-3]\s?)?[A-Z][A-Za-z]+\.?(?:\s+of\s+[A-Z][A-Za-z]+)?"
_PLACE = r"\d+(?::\d+)?(?:\s*[-\u2013]\s*\d+(?::\d+)?)?"
_CITATION = rf"{_BOOK}\s+{_PLACE}(?:\s*,\s*{_PLACE})*"
_REFERENCE = re.compile(rf"{_CITATION}(?:(?:\s*[;,]\s*|\s+and\s+|\s+){_CITATION})*")
_TRAILING_GROUP = re.compile(r"\(([^()]*)\)\s*$")


def split_answer(raw: str) -> tuple[str, str]:
    """Split a BibleQA answer into (short gold answer, verse reference).

    A leading list number ("12. ") is dropped, then every trailing parenthesised group that reads as a verse
    reference is peeled off (several become one reference joined by "; "). Parentheses that are not references
    stay in the gold answer ("(Simon) Peter", "Herod (the Great)"). Whitespace is collapsed and one trailing full
    stop dropped. Without a reference the second item is "".

    Example:
        >>> split_answer("1. Mary (Matt 1:18)")
        ('Mary', 'Matt 1:18')
        >>> split_answer("Herod (the Great) (Matt 2:13)")
        ('Herod (the Great)', 'Matt 2:13')
        >>> split_answer("Salem (Gen 14:18 Heb 7:1)")
        ('Salem', 'Gen 14:18 Heb 7:1')
    """
    text = _LIST_NUMBER.sub("", raw, count=1).strip()
    references: list[str] = []
    while (match := _TRAILING_GROUP.search(text)) is not None:
        inside = " ".join(match.group(1).split())
        if not _REFERENCE.fullmatch(inside):
            break
        references.insert(0, inside)
        text = text[: match.start()].rstrip()
    gold = " ".join(text.split())
    if gold.endswith("."):
        gold = gold[:-1].rstrip()
    return gold, "; ".join(references)


def _numbered(text: str, path: Path, row: int, column: str) -> tuple[int, str]:
    match = _LIST_NUMBER.match(text)
    if match is None:
        raise DataFileError(
            f"data file {path}: row {row} column '{column}' does not start with a list number 'N. ': {text!r:.80}"
        )
    return int(match.group(1)), text[match.end() :].strip()


def load_bibleqa(
    data_dir: str | Path | None = None, source: Literal["1001", "1001-new"] = "1001"
) -> datasets.Dataset:
    """Load BibleQA with columns ``number``, ``question``, ``answer_raw``, ``answer``, ``reference``.

    ``answer`` is the short gold answer: "1. Mary (Matt 1:18)" gives answer "Mary", reference "Matt 1:18",
    answer_raw "Mary (Matt 1:18)". See :func:`split_answer`.

    Args:
        data_dir: folder laid out like ``../shared/data``; default ``$PEFT_EFFICIENCY_DATA_DIR``.
        source: ``"1001"`` (the original list, 886 pairs) or ``"1001-new"`` (the edited list, 887 pairs).

    Example:
        >>> ds = load_bibleqa("/work/shared/data")  # doctest: +SKIP
        >>> ds[0]["question"], ds[0]["answer"]  # doctest: +SKIP
        ("What was the name of Jesus' mother?", 'Mary')
    """
    if source not in BIBLEQA_SOURCES:
        raise ValueError(f"BibleQA source {source!r} does not exist; choose one of {list(BIBLEQA_SOURCES)}")
    relative, delimiter = BIBLEQA_SOURCES[source]
    root = resolve_data_dir(data_dir)
    if root is None:
        raise no_hub_copy(relative, BIBLEQA_ORIGIN)
    path = local_file(root, relative)
    columns: dict[str, list] = {name: [] for name in BIBLEQA_FEATURES}
    seen: dict[int, int] = {}
    for row_no, row in enumerate(read_csv(path, ["Questions", "ANSWERS"], delimiter=delimiter), start=1):
        number, question = _numbered(row["Questions"], path, row_no, "Questions")
        answer_number, answer_raw = _numbered(row["ANSWERS"], path, row_no, "ANSWERS")
        if answer_number != number:
            raise DataFileError(f"data file {path}: row {row_no} pairs question {number} with answer {answer_number}")
        if number in seen:
            raise DataFileError(f"data file {path}: rows {seen[number]} and {row_no} both hold question {number}")
        seen[number] = row_no
        gold, reference = split_answer(answer_raw)
        if not gold or not question:
            raise DataFileError(f"data file {path}: row {row_no} (question {number}) has an empty question or answer")
        for name, value in zip(columns, (number, question, answer_raw, gold, reference)):
            columns[name].append(value)
    return datasets.Dataset.from_dict(columns, features=BIBLEQA_FEATURES)
