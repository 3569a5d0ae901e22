"""`imdb` (the full 25,000-review test set, from the Hub) and `imdb_sample2500` (the data directory's sample) are
two tasks, so a score names the reviews it scored; each fails with a message naming the data it needs.

The Hub is replaced by an in-memory `datasets.load_dataset` (tests run offline).
"""

from __future__ import annotations

from pathlib import Path

import pytest

lm_eval = pytest.importorskip("lm_eval")

import datasets  # noqa: E402
from harness_helpers import FakeLM  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

from peft_efficiency.data import DataFileError, DataUnavailableError  # noqa: E402
from peft_efficiency.harness import tasks_path  # noqa: E402


def _manager(metadata: dict | None = None) -> TaskManager:
    return TaskManager(include_path=str(tasks_path()), include_defaults=False, metadata=metadata)


def _fake_hub(test_size: int, calls: list):
    """A stand-in for `datasets.load_dataset` serving an IMDb-shaped DatasetDict (train 25,000, test `test_size`)."""
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})

    def split(size: int, prefix: str):
        labels = [i % 2 for i in range(size)]
        texts = [f"{prefix} review {i}<br />{'great' if label else 'awful'}" for i, label in enumerate(labels)]
        return datasets.Dataset.from_dict({"text": texts, "label": labels}, features=features)

    def load_dataset(path, *args, **kwargs):
        calls.append(path)
        return datasets.DatasetDict({"train": split(25_000, "train"), "test": split(test_size, "hub"),
                                     "unsupervised": split(3, "unsup")})

    return load_dataset


def test_imdb_scores_the_full_test_set_from_the_hub_even_with_a_data_directory(monkeypatch, data_dir: Path):
    calls: list = []
    monkeypatch.setattr(datasets, "load_dataset", _fake_hub(25_000, calls))
    manager = _manager({"data_dir": str(data_dir)})  # holds only the 2,500-review sample: not read by `imdb`
    task = manager.load(["imdb"])["tasks"]["imdb"]
    assert calls == ["stanfordnlp/imdb"]
    assert len(task.eval_docs) == 25_000 and len(task.training_docs()) == 25_000
    assert task.eval_docs[1]["text"] == "hub review 1\ngreat"  # the Hub's text, "<br />" turned into a newline
    results = lm_eval.simple_evaluate(model=FakeLM(correct=True), tasks=["imdb"], task_manager=manager, limit=4,
                                      bootstrap_iters=0)["results"]["imdb"]
    assert (results["acc,none"], results["f1,none"]) == (1.0, 1.0)


def test_imdb_refuses_a_hub_copy_that_is_not_the_full_set(monkeypatch):
    monkeypatch.setattr(datasets, "load_dataset", _fake_hub(2_500, []))
    with pytest.raises(DataFileError, match=r"'test' split has 2,500 reviews, not 25,000"):
        _manager().load(["imdb"])


def test_imdb_without_the_hub_names_the_data_it_needs(monkeypatch, data_dir: Path):
    def offline(path, *args, **kwargs):
        raise ConnectionError("Couldn't reach 'stanfordnlp/imdb' on the Hub (offline)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataUnavailableError) as info:
        _manager({"data_dir": str(data_dir)}).load(["imdb"])
    message = str(info.value)
    assert "full IMDb test set (25,000 reviews)" in message and "'stanfordnlp/imdb'" in message
    assert "ConnectionError" in message and "imdb_sample2500" in message and "imdb/imdb_test_2500.jsonl.gz" in message


def test_imdb_sample2500_is_the_data_directory_sample(data_dir: Path):
    task = _manager({"data_dir": str(data_dir)}).load(["imdb_sample2500"])["tasks"]["imdb_sample2500"]
    docs = task.eval_docs
    assert len(docs) == 2500 and sum(docs["label"]) == 1250  # SOURCE.txt: 1,250 negative / 1,250 positive
    assert len(task.training_docs()) == 2500


def test_imdb_sample2500_without_a_data_directory_names_the_file(monkeypatch):
    monkeypatch.delenv("PEFT_EFFICIENCY_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", _fake_hub(25_000, calls := []))
    needs = r"imdb_sample2500 .*imdb/imdb_test_2500\.jsonl\.gz.*PEFT_EFFICIENCY_DATA_DIR"
    with pytest.raises(DataUnavailableError, match=needs):
        _manager().load(["imdb_sample2500"])
    assert calls == []  # no silent fall-back to the Hub's full set under the sample's name

