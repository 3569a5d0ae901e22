"""`FlopsCallback`: a PEFT-aware training FLOPs estimate, MFU, and the Trainer's own `total_flos` beside it."""

from __future__ import annotations

from typing import Any, Callable

import torch

from peft_efficiency.callbacks.base import MeasurementCallback
from peft_efficiency.callbacks.carried_state import is_optional_number
from peft_efficiency.callbacks.measure import Measure
from peft_efficiency.trackers.distributed import world_size
from peft_efficiency.trackers.flops import FlopsProfile, device_peak_flops_per_second, estimate_training_flops, flops_profile


class FlopsCallback(MeasurementCallback):
    """Estimates training FLOPs from the tokens actually processed (formula in `peft_efficiency.trackers.flops`).

    Measures: `efficiency/flops` (forward over all weights, activation gradients through the network, weight
    gradients only for trainable weights, virtual tokens of prompt methods counted), `efficiency/mfu` (FLOPs /
    (train seconds x device peak x processes) where the device's peak is known; null on CPU) and the Trainer's
    `total_flos` (which assumes every weight is trained) for comparison.

    Example: `Trainer(..., callbacks=[FlopsCallback()])`
    """

    def __init__(self) -> None:
        super().__init__([FlopsMeasure()])


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

    def restore_state(self, saved: dict[str, Any]) -> None:
        self.prior_flops = float(saved.get("flops") or 0.0)

    def carried_state_schema(self) -> dict[str, Callable[[Any], bool]]:
        return {"flops": is_optional_number}

    def close(self) -> None:
        self.state = None

    def carry_state(self) -> dict[str, Any]:
        self.measure(final=False, collective=True)
        return {"flops": self.last_flops}

    def start(self, args: Any, state: Any, model: Any) -> None:
        self.profile, self.state = flops_profile(model), state
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
        if not tokens:
            section.update(flops=None, mfu=None)
            section["unavailable"]["flops"] = "no training tokens were seen (no input_ids/attention_mask in the forward passes)"
        else:
            section.update(estimate_training_flops(self.profile, samples, tokens, counts=counts))
            section["session_flops"] = section["flops"]
            section["flops"] = section["session_flops"] + self.prior_flops
            self.last_flops = section["flops"]
            seconds = self.session.clock.train_seconds()
            peak = device_peak_flops_per_second(self.device_name, self.half_precision)
            section["device_peak_flops_per_second"] = peak
            computed = section.get("flops_computed") or section["session_flops"]  # padded positions too: what the hardware ran
            section["mfu"] = computed / (seconds * peak * world_size()) if peak and seconds > 0 else None
            if peak is None:
                section["unavailable"]["mfu"] = f"no known peak FLOP/s for device {self.device_name or 'cpu'}"
        self.session.update("flops", section)
        return {"efficiency/flops": section["flops"], "efficiency/mfu": section["mfu"]}
