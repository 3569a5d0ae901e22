"""What a trainer class trains on: how many model rows make one training example, and whether it generates.

Preference and reward trainers run the chosen and the rejected completion of each pair as two rows of one batch
(trl's DPO, ORPO, CPO, online DPO and RewardTrainer): a sample is the pair, tokens are both completions' tokens.
Every other trainer trains one row per example. Classes are matched by name along the MRO, so a user's subclass
of trl's DPOTrainer is a DPO trainer too, and trl is never imported here.
"""

from __future__ import annotations

from dataclasses import dataclass

PAIRWISE_TRAINERS = ("DPOTrainer", "OnlineDPOTrainer", "ORPOTrainer", "CPOTrainer", "RewardTrainer")
GENERATING_TRAINERS = ("GRPOTrainer", "RLOOTrainer", "OnlineDPOTrainer", "PPOTrainer", "XPOTrainer", "NashMDTrainer",
                       "GKDTrainer")


@dataclass(frozen=True)
class TrainerKind:
    """name: the trainer's class name; rows_per_sample: model rows per training example; generates: whether the
    trainer generates completions while training (its generation is a phase of its own)."""

    name: str = "Trainer"
    rows_per_sample: int = 1
    generates: bool = False

    @property
    def samples_are(self) -> str:
        if self.rows_per_sample == 2:
            return "preference pairs (a chosen and a rejected sequence each)"
        return "sequences (a padded row, or each document of a packed row)"


def trainer_kind(trainer_class: type | None) -> TrainerKind:
    """The kind of `trainer_class` (a plain Trainer's when unknown)."""
    if trainer_class is None:
        return TrainerKind()
    names = {cls.__name__ for cls in trainer_class.__mro__}
    return TrainerKind(name=trainer_class.__name__, rows_per_sample=2 if names & set(PAIRWISE_TRAINERS) else 1,
                       generates=bool(names & set(GENERATING_TRAINERS)))
