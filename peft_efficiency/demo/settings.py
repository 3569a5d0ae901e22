"""How big the demo is: the real preset (a few minutes on 2 CPU cores) and the smoke preset (seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field

IMDB_ENTRIES = ("full", "lora-tuned", "ia3-tuned", "bitfit-tuned", "prompt-tuned")


@dataclass
class DemoSettings:
    """Sizes of the two demo stages.

    Example: `DemoSettings.real()`, `DemoSettings.smoke()`, `DemoSettings(imdb_steps=10)`.
    """

    smoke: bool = field(default=False, metadata={"help": "Tiny in-process models instead of the real ones."})
    imdb_entries: tuple[str, ...] = field(default=IMDB_ENTRIES, metadata={"help": "imdb_roberta grid entries to run."})
    imdb_steps: int = field(default=15, metadata={"help": "Optimizer steps per IMDb method."})
    imdb_batch_size: int = field(default=16, metadata={"help": "IMDb batch size."})
    imdb_max_length: int = field(default=128, metadata={"help": "Tokens kept per review."})
    imdb_eval_size: int = field(default=128, metadata={"help": "IMDb test reviews scored per method."})
    sft_steps: int = field(default=10, metadata={"help": "LoRA SFT steps of SmolLM2 on ASV verses."})
    sft_batch_size: int = field(default=4, metadata={"help": "SFT batch size (passages per step)."})
    sft_max_length: int = field(default=64, metadata={"help": "Tokens per ASV passage."})
    bibleqa_questions: int = field(default=24, metadata={"help": "BibleQA questions scored (the first N of 886)."})
    eval_batch_size: int = field(default=8, metadata={"help": "lm-eval generation batch size."})

    def __post_init__(self) -> None:
        sizes = {k: getattr(self, k) for k in ("imdb_steps", "imdb_batch_size", "imdb_max_length", "imdb_eval_size",
                                               "sft_steps", "sft_batch_size", "sft_max_length", "bibleqa_questions",
                                               "eval_batch_size")}
        bad = {k: v for k, v in sizes.items() if v < 1}
        if bad:
            raise ValueError(f"demo sizes must be at least 1: {bad}")
        if not self.imdb_entries and self.bibleqa_questions < 1:
            raise ValueError("the demo needs at least one stage")

    @property
    def imdb_train_size(self) -> int:
        return self.imdb_steps * self.imdb_batch_size

    @classmethod
    def real(cls, **overrides) -> "DemoSettings":
        return cls(**overrides)

    @classmethod
    def smoke_preset(cls, **overrides) -> "DemoSettings":
        values = dict(smoke=True, imdb_steps=2, imdb_batch_size=4, imdb_max_length=64, imdb_eval_size=8,
                      sft_steps=2, sft_batch_size=2, sft_max_length=64, bibleqa_questions=3, eval_batch_size=4)
        values.update(overrides)
        return cls(**values)
