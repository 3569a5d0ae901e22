"""A tiny Trainer job for the multi-process test: `torchrun --nproc_per_node 2 tests/ddp_job.py OUTPUT_DIR`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from transformers import Trainer  # noqa: E402

from foundation_helpers import classification_dataset, tiny_bert, training_args  # noqa: E402
from peft_efficiency import EfficiencyCallback  # noqa: E402

if __name__ == "__main__":
    args = training_args(sys.argv[1], num_train_epochs=2, per_device_train_batch_size=3, ddp_backend="gloo",
                         eval_strategy="epoch", save_strategy="epoch")
    trainer = Trainer(model=tiny_bert(), args=args, train_dataset=classification_dataset(24),
                      eval_dataset=classification_dataset(8, seed=5), callbacks=[EfficiencyCallback(task="ddp")])
    metrics = trainer.train().metrics
    print(f"rank {trainer.args.process_index} samples_per_second {metrics['efficiency/samples_per_second']}")
