"""`FlopsCallback`: a PEFT-aware training FLOPs estimate, MFU, and the Trainer's own `total_flos` beside it."""

from __future__ import annotations

from typing import Any, Callable

import torch

from peft_efficiency.callbacks.base import MeasurementCallback
from peft_efficiency.callbacks.carried_state import is_optional_number
from peft_efficiency.callbacks.measure import Measure
from peft_efficiency.trackers.distributed import world_size
from peft_efficiency.trackers.flops import (FlopsProfile, device_peak_flops_per_second, estimate_training_flops, flops_profile,
                                            generation_flops)
from peft_efficiency.trackers.recompute import RecomputeProbe
from peft_efficiency.trackers.tokens import BatchCounts


class FlopsCallback(MeasurementCallback):
    """Estimates training FLOPs from the tokens actually processed (formula in `peft_efficiency.trackers.flops`).

    Measures: `efficiency/flops` (forward over all weights, activation gradients through the network, weight
    gradients only for trainable weights, virtual tokens of prompt methods counted; only forwards with gradients
    are training), `efficiency/mfu` (model FLOPs, no recomputation / (train seconds x device peak x processes)
    where the device's peak is known; null on CPU), `efficiency/hfu` (the same with gradient checkpointing's
    recomputation), and in the report the forward FLOPs of what was not trained: the reference model's forwards
    (or the trained model's under no_grad) and generation (prefill + decode with the KV cache); the Trainer's
    `total_flos` (which assumes every weight is trained) beside them for comparison.

    Args:
        log_all_figures: every figure in every training log; default: $PEFT_EFFICIENCY_LOG_ALL_FIGURES, else False.

    Example: `Trainer(..., callbacks=[FlopsCallback()])`
    """

    def __init__(self, log_all_figures: bool | None = None) -> None:
        super().__init__([FlopsMeasure()], log_all_figures)


class FlopsMeasure(Measure):
    """The FLOPs estimate of `FlopsCallback`."""

    name = "flops"

    def __init__(self) -> None:
        super().__init__()
        # internal state
        self.profile: FlopsProfile | None = None
        self.state: Any = None
        self.half_precision = False
        self.device_name: str | None = None
        self.prior_flops = 0.0
        self.last_flops: float | None = None
        self.reference_profile: FlopsProfile | None = None
        self.probe = RecomputeProbe()

    def restore_state(self, saved: dict[str, Any]) -> None:
        self.prior_flops = float(saved.get("flops") or 0.0)

    def carried_state_schema(self) -> dict[str, Callable[[Any], bool]]:
        return {"flops": is_optional_number}

    def close(self) -> None:
        self.state = None
        self.reference_profile = None
        self.probe.detach()

    def step_hooks(self) -> tuple[None, Callable[[float], None] | None]:
        """A step-end hook only while the recompute probe waits for the first optimizer step."""
        return None, (self.step_end if self.probe.attached else None)

    def step_end(self, now: float) -> None:
        """The first optimizer step has run its backward: what checkpointing reran is known. Needed once only."""
        self.probe.finish()
        if self.profile is not None and self.probe.observed:
            self.profile.recomputed = (self.probe.token_forward, self.probe.layers)
        if self.session is not None:  # new tuples: the one being iterated over is left as it is
            self.session.refresh_step_hooks()

    def carry_state(self) -> dict[str, Any]:
        self.measure(final=False, collective=True)
        return {"flops": self.last_flops}

    def start(self, args: Any, state: Any, model: Any) -> None:
        self.profile, self.state = flops_profile(model), state
        reference = self.session.reference_model() if self.session is not None else None
        self.reference_profile = flops_profile(reference) if reference is not None else None
        self.probe = RecomputeProbe()
        if self.profile.gradient_checkpointing:
            self.probe.attach(model, self.profile.layers)
        self.prior_flops, self.last_flops = 0.0, None
        self.half_precision = bool(getattr(args, "bf16", False) or getattr(args, "fp16", False))
        device = getattr(args, "device", None)
        is_cuda = getattr(device, "type", None) == "cuda" and torch.cuda.is_available()
        self.device_name = torch.cuda.get_device_name(device) if is_cuda else None

    def measure(self, final: bool, collective: bool) -> dict[str, Any]:
        if self.profile is None:
            return {}
        counts = self.session.batch_counts(collective)
        samples, tokens = int(counts.samples), int(counts.tokens)
        section: dict[str, Any] = {"unavailable": {}, "trainer_total_flos": float(getattr(self.state, "total_flos", 0.0)) or None}
        not_covered = self.session.counter.describe()["unavailable"].get("flops")
        if not_covered or not tokens:
            section.update(flops=None, mfu=None, hfu=None)
            section["unavailable"]["flops"] = not_covered or "no training tokens were seen (no input_ids/attention_mask in the forward passes)"
        else:
            section.update(estimate_training_flops(self.profile, samples, tokens, counts=counts))
            section["session_flops"] = section["flops"]
            section["flops"] = section["session_flops"] + self.prior_flops
            self.last_flops = section["flops"]
            seconds = self.session.clock.train_seconds()
            peak = device_peak_flops_per_second(self.device_name, self.half_precision)
            section["device_peak_flops_per_second"] = peak
            computed = section.get("flops_computed") or section["session_flops"]  # padded positions too: what ran
            budget = seconds * peak * world_size() if peak and seconds > 0 else None
            section["mfu"] = computed / budget if budget else None
            section["hfu"] = section["flops_hardware"] / budget if budget else None
            if peak is None:
                section["unavailable"]["mfu"] = section["unavailable"]["hfu"] = f"no known peak FLOP/s for device {self.device_name or 'cpu'}"
            if self.profile.gradient_checkpointing:
                section["recompute_observed"] = self.profile.recomputed is not None
        section.update(self._untrained_flops(collective, section["unavailable"]))
        self.session.update("flops", section)
        return {"efficiency/flops": section["flops"], "efficiency/mfu": section["mfu"], "efficiency/hfu": section.get("hfu")}

    def _untrained_flops(self, collective: bool, unavailable: dict[str, str]) -> dict[str, Any]:
        """Forward FLOPs of the forwards that were not trained: reference / no-grad log-probs, and generation."""
        figures: dict[str, Any] = {}
        trainer = self.session.trainer
        untrained = self.session.untrained_counts(collective)
        reference = self.session.reference_counts(collective)
        parts = [(self.profile, untrained)] + ([(self.reference_profile, reference)] if reference is not None else [])
        forwards = [forward_flops(profile, counts) for profile, counts in parts if counts.batches]
        if forwards:
            figures["reference_flops"] = None if None in forwards else sum(forwards)
            figures["reference_forward_passes"] = int(sum(counts.batches for _, counts in parts))
            if figures["reference_flops"] is None:
                unavailable["reference_flops"] = "a reference forward's inputs are not token sequences"
        elif trainer.rows_per_sample == 2 or trainer.generates or trainer.name.startswith("KTO"):
            figures["reference_flops"] = None
            unavailable["reference_flops"] = (f"no reference or no_grad forward ran while {trainer.name} trained (reference "
                                              "log-probs precomputed, or none used)")
        tally = self.session.generation_tally(collective)
        if tally.calls:
            flops = None
            if tally.encoder_decoder_calls:
                unavailable["generation_flops"] = "the generation formula covers decoder-only models"
            elif self.profile is not None:
                flops = generation_flops(self.profile, tally.body_positions, tally.head_positions, tally.attention_pairs)
                if flops is None:
                    unavailable["generation_flops"] = "virtual tokens or an unknown attention shape"
            figures["generation_flops"] = flops
        return figures


def forward_flops(profile: FlopsProfile | None, counts: BatchCounts) -> float | None:
    """Forward FLOPs of the forward passes in `counts` (non-padding tokens, as in `flops`)."""
    if profile is None or profile.plan is None or not counts.positions:
        return None
    return estimate_training_flops(profile, 0, 0, counts=counts)["flops_forward"]
