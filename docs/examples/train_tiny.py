"""A plain Trainer script with no peft-efficiency code in it: a tiny BERT built from a config (no download)
learns random labels for a few steps on CPU, in seconds. The docs use it to show the ways of attaching the
measurement without editing a script.

    python docs/examples/train_tiny.py --output_dir runs/plain --report_to peft_efficiency
    peft-efficiency run --task demo -- python docs/examples/train_tiny.py --output_dir runs/wrapped
"""

import torch
from transformers import BertConfig, BertForSequenceClassification, HfArgumentParser, Trainer, TrainingArguments


class RandomTokens(torch.utils.data.Dataset):
    def __init__(self, rows: int = 32, length: int = 16) -> None:
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(5, 100, (rows, length), generator=generator)
        self.labels = torch.randint(0, 2, (rows,), generator=generator)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones_like(self.ids[i]), "labels": self.labels[i]}


def main() -> None:
    parser = HfArgumentParser(TrainingArguments)
    parser.set_defaults(num_train_epochs=1, per_device_train_batch_size=8, save_strategy="no")  # 4 steps
    (args,) = parser.parse_args_into_dataclasses()
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=2)
    model = BertForSequenceClassification(config)
    trainer = Trainer(model=model, args=args, train_dataset=RandomTokens(), eval_dataset=RandomTokens(16))
    print(trainer.train().metrics)


if __name__ == "__main__":
    main()
