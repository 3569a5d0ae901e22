"""Sequence classification helpers: tokenization of texts or text pairs, and accuracy/precision/recall/F1."""

from __future__ import annotations

from typing import Any

import numpy as np


def tokenize_dataset(dataset: Any, tokenizer: Any, max_length: int, text: str, pair: str | None = None,
                     label: str = "label") -> Any:
    """Tokenize column `text` (and `pair`, which is what gets truncated) to `max_length`; keep model inputs and `labels`."""

    def encode(batch: dict[str, list]) -> dict[str, Any]:
        args = (batch[text], batch[pair]) if pair else (batch[text],)
        enc = tokenizer(*args, truncation="only_second" if pair else True, max_length=max_length)
        enc["labels"] = [int(v) for v in batch[label]]
        return enc

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names)


def classification_metrics(eval_pred: Any) -> dict[str, float]:
    """Accuracy, and precision/recall/F1 of the positive class (label 1), from logits and labels."""
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    preds = np.asarray(logits).argmax(axis=-1)
    labels = np.asarray(labels)
    tp = int(((preds == 1) & (labels == 1)).sum())
    fp = int(((preds == 1) & (labels == 0)).sum())
    fn = int(((preds == 0) & (labels == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": float((preds == labels).mean()), "precision": precision, "recall": recall, "f1": f1}


def take(dataset: Any, size: int | None, seed: int) -> Any:
    """The first `size` rows after a seeded shuffle (all rows when size is None or larger)."""
    if size is None or size >= len(dataset):
        return dataset
    return dataset.shuffle(seed=seed).select(range(size))


def epoch_table(log_history: list[dict[str, Any]], epoch_seconds: list[float]) -> list[dict[str, Any]]:
    """Seed 002's per-epoch table: training loss, validation accuracy and wall seconds of each epoch."""
    rows: dict[int, dict[str, Any]] = {}
    for entry in log_history:
        epoch = entry.get("epoch")
        if epoch is None or abs(epoch - round(epoch)) > 1e-6 or round(epoch) < 1:
            continue
        row = rows.setdefault(int(round(epoch)), {"epoch": int(round(epoch))})
        if "loss" in entry:
            row["train_loss"] = entry["loss"]
        if "eval_accuracy" in entry:
            row["eval_accuracy"] = entry["eval_accuracy"]
    for i, seconds in enumerate(epoch_seconds, start=1):
        rows.setdefault(i, {"epoch": i})["epoch_seconds"] = round(seconds, 3)
    return [rows[k] for k in sorted(rows)]
