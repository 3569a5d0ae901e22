"""`EnergyCallback`: energy (kWh) and carbon (kg CO2eq) of training, with evaluation measured apart."""

from __future__ import annotations

import os
from typing import Any

from peft_efficiency.callbacks.base import MeasurementCallback
from peft_efficiency.trackers.distributed import gather_objects
from peft_efficiency.trackers.energy import DEFAULT_COUNTRY_ISO_CODE, EnergyTracker, summarize_energy


class EnergyCallback(MeasurementCallback):
    """Energy and carbon with codecarbon, one tracker per node (on each node's local main process).

    Measures: `efficiency/energy_kwh` and `efficiency/co2_kg` for training (evaluation excluded; kept apart as
    `efficiency/eval_energy_kwh`), with CPU/GPU/RAM parts and how each was obtained (hardware counter such as
    RAPL/NVML, or codecarbon's estimate) in the report. Offline by default: no network, carbon intensity of
    `country_iso_code` from codecarbon's own table. If codecarbon is missing or raises, training goes on and the
    report's energy section says "unavailable" with the reason.

    Args:
        country_iso_code: ISO 3166-1 alpha-3 code for the carbon intensity (default: $PEFT_EFFICIENCY_COUNTRY, else "USA").
        online: use codecarbon's online tracker (network: location lookup, live intensity). Only when asked.
        measure_power_seconds: codecarbon's sampling interval.

    Example: `Trainer(..., callbacks=[EnergyCallback(country_iso_code="SVN")])`
    """

    name = "energy"

    def __init__(self, country_iso_code: str | None = None, online: bool = False, measure_power_seconds: float = 15.0) -> None:
        super().__init__()
        self.country_iso_code = country_iso_code or os.environ.get("PEFT_EFFICIENCY_COUNTRY") or DEFAULT_COUNTRY_ISO_CODE
        if len(self.country_iso_code) != 3 or not self.country_iso_code.isalpha():
            raise ValueError(f"country_iso_code must be an ISO 3166-1 alpha-3 code such as 'USA' or 'SVN', got {self.country_iso_code!r}")
        self.online = online
        self.measure_power_seconds = measure_power_seconds
        # internal state
        self.tracker: EnergyTracker | None = None
        self.prior: dict[str, Any] = {}

    def start(self, args: Any, state: Any, model: Any) -> None:
        self.prior = {}
        self.tracker = None
        if state.is_local_process_zero:
            self.tracker = EnergyTracker(self.country_iso_code, self.online, self.measure_power_seconds)
            self.tracker.start("train")

    def restore_state(self, saved: dict[str, Any]) -> None:
        self.prior = dict(saved)

    def phase_changed(self, phase: str) -> None:
        if self.tracker is not None:
            self.tracker.switch(phase)

    def _summary(self, collective: bool) -> dict[str, Any]:
        mine = self.tracker.result() if self.tracker is not None else None
        results = [r for r in (gather_objects(mine) if collective else [mine]) if r is not None]
        return summarize_energy(results, self.country_iso_code, self.online, prior=self.prior)

    def carry_state(self) -> dict[str, Any]:
        if self.tracker is not None:
            self.tracker.flush_phase()
        summary = self._summary(collective=True)
        return {"train": summary["train"], "eval": summary["eval"]} if summary["status"] == "measured" else {}

    def measure(self, final: bool, collective: bool) -> dict[str, Any]:
        if not final:
            return {}
        if self.tracker is not None:
            self.tracker.stop()
        section = self._summary(collective)
        self.session.update("energy", section)
        return {
            "efficiency/energy_kwh": section["energy_kwh"],
            "efficiency/co2_kg": section["co2_kg"],
            "efficiency/eval_energy_kwh": section["eval"]["energy_kwh"] if section.get("eval") else None,
        }
