"""Tiny models built from configs and token-id data sets whose sizes are known in advance, for the callback tests."""

from __future__ import annotations

import random

import torch
from datasets import Dataset
from transformers import BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForCausalLM

VOCAB = 64
SEQ = 12


def tiny_bert(num_labels: int = 2, seed: int = 0) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=SEQ, num_labels=num_labels)
    return BertForSequenceClassification(config)


def tiny_llama(seed: int = 0, attn_implementation: str | None = None) -> LlamaForCausalLM:
    """`attn_implementation="eager"`: attention as plain matmuls, which torch's FlopCounterMode sees (SDPA's CPU
    kernels it does not count)."""
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True,
                         **({"attn_implementation": attn_implementation} if attn_implementation else {}))
    return LlamaForCausalLM(config)


def lengths(n: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(3, SEQ) for _ in range(n)]


def classification_dataset(n: int = 24, seed: int = 0) -> Dataset:
    """`n` padded rows; non-padding tokens per row are `lengths(n, seed)`."""
    rng = random.Random(seed + 1)
    rows = []
    for i, length in enumerate(lengths(n, seed)):
        ids = [rng.randint(1, VOCAB - 1) for _ in range(length)] + [0] * (SEQ - length)
        rows.append({"input_ids": ids, "attention_mask": [1] * length + [0] * (SEQ - length), "labels": i % 2})
    return Dataset.from_list(rows)


def causal_dataset(n: int = 16, seed: int = 0) -> Dataset:
    rng = random.Random(seed + 2)
    rows = []
    for length in lengths(n, seed):
        ids = [rng.randint(1, VOCAB - 1) for _ in range(length)] + [0] * (SEQ - length)
        rows.append({"input_ids": ids, "attention_mask": [1] * length + [0] * (SEQ - length),
                     "labels": ids[:length] + [-100] * (SEQ - length)})
    return Dataset.from_list(rows)


def training_args(output_dir, **overrides):
    from transformers import TrainingArguments

    settings = dict(output_dir=str(output_dir), per_device_train_batch_size=4, per_device_eval_batch_size=8,
                    num_train_epochs=1, logging_steps=2, report_to=[], use_cpu=True, save_strategy="no",
                    disable_tqdm=True, learning_rate=1e-3, seed=0, dataloader_num_workers=0)
    settings.update(overrides)
    return TrainingArguments(**settings)
