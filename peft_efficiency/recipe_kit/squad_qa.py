"""Extractive QA (SQuAD v1.1): question+context windows with overflow and offsets, and logits -> answer spans.

Training features label each window with the token start/end of the first gold answer (CLS when the answer is
not inside the window). Evaluation features keep each window's example id and the offsets of its context tokens;
`postprocess` picks, per example, the best-scoring span (start <= end, at most `max_answer_length` tokens, inside
the context) over all its windows and returns its text.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np


def _encode(batch: dict[str, list], tokenizer: Any, max_length: int, doc_stride: int) -> Any:
    questions = [q.lstrip() for q in batch["question"]]
    return tokenizer(questions, batch["context"], truncation="only_second", max_length=max_length, stride=doc_stride,
                     return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length")


def train_features(dataset: Any, tokenizer: Any, max_length: int, doc_stride: int, shift: int = 0) -> Any:
    """Windows with `start_positions`/`end_positions`; `shift` adds the virtual tokens a prompt method prepends."""

    def prepare(batch: dict[str, list]) -> dict[str, Any]:
        enc = _encode(batch, tokenizer, max_length, doc_stride)
        starts, ends = [], []
        for i, offsets in enumerate(enc.pop("offset_mapping")):
            example = enc["overflow_to_sample_mapping"][i]
            answer = batch["answers"][example]
            char_start = answer["answer_start"][0]
            char_end = char_start + len(answer["text"][0])
            seq = enc.sequence_ids(i)
            first = seq.index(1)
            last = len(seq) - 1 - seq[::-1].index(1)
            if offsets[first][0] > char_start or offsets[last][1] < char_end:
                starts.append(shift)  # answer not in this window: point at CLS
                ends.append(shift)
                continue
            tok_start = first
            while tok_start <= last and offsets[tok_start][0] <= char_start:
                tok_start += 1
            tok_end = last
            while tok_end >= first and offsets[tok_end][1] >= char_end:
                tok_end -= 1
            starts.append(tok_start - 1 + shift)
            ends.append(tok_end + 1 + shift)
        enc.pop("overflow_to_sample_mapping")
        enc["start_positions"], enc["end_positions"] = starts, ends
        return enc

    return dataset.map(prepare, batched=True, remove_columns=dataset.column_names)


def eval_features(dataset: Any, tokenizer: Any, max_length: int, doc_stride: int) -> Any:
    """Windows with `example_id` and `offset_mapping` (None outside the context) for `postprocess`."""

    def prepare(batch: dict[str, list]) -> dict[str, Any]:
        enc = _encode(batch, tokenizer, max_length, doc_stride)
        mapping = enc.pop("overflow_to_sample_mapping")
        enc["example_id"] = [batch["id"][m] for m in mapping]
        enc["offset_mapping"] = [
            [o if s == 1 else None for o, s in zip(offsets, enc.sequence_ids(i))]
            for i, offsets in enumerate(enc["offset_mapping"])
        ]
        return enc

    return dataset.map(prepare, batched=True, remove_columns=dataset.column_names)


def postprocess(examples: Any, features: Any, start_logits: np.ndarray, end_logits: np.ndarray,
                max_answer_length: int = 30, n_best: int = 20, shift: int = 0) -> dict[str, str]:
    """Example id -> predicted answer text. `shift` drops the leading virtual-token positions of the logits."""
    start_logits, end_logits = start_logits[:, shift:], end_logits[:, shift:]
    by_example: dict[str, list[int]] = defaultdict(list)
    for i, example_id in enumerate(features["example_id"]):
        by_example[example_id].append(i)
    offsets_all = features["offset_mapping"]
    predictions: dict[str, str] = {}
    for example in examples:
        best_score, best_text = -np.inf, ""
        for i in by_example[example["id"]]:
            offsets = offsets_all[i]
            starts = np.argsort(start_logits[i])[::-1][:n_best]
            ends = np.argsort(end_logits[i])[::-1][:n_best]
            for s in starts:
                for e in ends:
                    if s >= len(offsets) or e >= len(offsets) or offsets[s] is None or offsets[e] is None:
                        continue
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    score = start_logits[i][s] + end_logits[i][e]
                    if score > best_score:
                        best_score, best_text = score, example["context"][offsets[s][0]:offsets[e][1]]
        predictions[example["id"]] = best_text
    return predictions
