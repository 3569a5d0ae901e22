"""Two processes where rank 1 alone calls trainer.log() at a step that is not a logging step (a user callback can):
`torchrun --nproc_per_node 2 tests/one_rank_log_job.py OUTPUT_DIR`. Without care this hangs on a collective."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from transformers import Trainer, TrainerCallback  # noqa: E402

from foundation_helpers import classification_dataset, tiny_bert, training_args  # noqa: E402
from peft_efficiency import EfficiencyCallback  # noqa: E402


class LogOnRankOne(TrainerCallback):
    def __init__(self) -> None:
        self.trainer: Trainer | None = None

    def on_step_end(self, args, state, control, **kwargs):
        if args.process_index == 1 and state.global_step == 3:
            self.trainer.log({"rank_one_note": 1.0})


if __name__ == "__main__":
    args = training_args(sys.argv[1], max_steps=6, logging_steps=4, per_device_train_batch_size=2, ddp_backend="gloo",
                         save_strategy="steps", save_steps=4)
    logger = LogOnRankOne()
    trainer = Trainer(model=tiny_bert(), args=args, train_dataset=classification_dataset(24),
                      callbacks=[EfficiencyCallback(energy=False), logger])
    logger.trainer = trainer
    trainer.train()
    print(f"rank {args.process_index} done", flush=True)
