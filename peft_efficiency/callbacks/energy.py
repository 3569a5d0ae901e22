"""`EnergyCallback`: energy (kWh) and carbon (kg CO2eq) of training, with evaluation and checkpoint saving apart."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable

from peft_efficiency.callbacks.base import MeasurementCallback
from peft_efficiency.callbacks.carried_state import is_count, is_number_dict
from peft_efficiency.callbacks.measure import Measure
from peft_efficiency.callbacks.options import check_country_iso_code, check_flag, check_positive_number, env_default
from peft_efficiency.trackers.distributed import gather_objects
from peft_efficiency.trackers.energy import DEFAULT_COUNTRY_ISO_CODE, PHASES, EnergyPart, EnergyTracker, summarize_energy

JOULES_PER_KWH = 3.6e6
GRAMS_PER_KG = 1000.0


class EnergyCallback(MeasurementCallback):
    """Energy and carbon with codecarbon, one tracker per node (on each node's local main process).

    Measures: `efficiency/energy_joules` and `efficiency/co2_grams` for training (evaluation excluded; kept apart
    as `efficiency/eval_energy_joules`). The logs use joules and grams so that the Trainer's printed metrics (floats
    rounded to 4 decimals) never show a short run's energy as 0; the report keeps kWh and kg per phase (train,
    eval, save: checkpoint saving when the session books it, generation: `generate()` inside training, also as
    `efficiency/generation_energy_joules`), with CPU/GPU/RAM parts, the number of readings
    and how each part was obtained (hardware counter such as RAPL/NVML, or codecarbon's estimate). The counters
    are read every `measure_power_seconds` during a phase, so a counter that wraps (RAPL) loses nothing in long
    phases. Offline by default: no network, carbon intensity of `country_iso_code` from codecarbon's own table.
    If codecarbon is missing or raises, training goes on and the report's energy section says "unavailable" with
    the reason.

    Args:
        country_iso_code: ISO 3166-1 alpha-3 code for the carbon intensity, one of codecarbon's table (default:
            $PEFT_EFFICIENCY_COUNTRY, else "USA"; lower case is accepted).
        online: use codecarbon's online tracker (network: location lookup, live intensity). Only when asked.
        measure_power_seconds: how often the energy counters are read during a phase (seconds, > 0): each reading
            closes and reopens the phase's codecarbon task, on a daemon thread. Keep it well below the time the
            CPU's RAPL counter takes to wrap (minutes at server power).
        log_all_figures: every figure in every training log; default: $PEFT_EFFICIENCY_LOG_ALL_FIGURES, else False.

    Example: `Trainer(..., callbacks=[EnergyCallback(country_iso_code="SVN")])`
    """

    def __init__(self, country_iso_code: str | None = None, online: bool = False, measure_power_seconds: float = 15.0,
                 log_all_figures: bool | None = None) -> None:
        super().__init__([EnergyMeasure(country_iso_code, online, measure_power_seconds)], log_all_figures)


class EnergyMeasure(Measure):
    """The energy and carbon figures of `EnergyCallback` (arguments checked here, when the callback is built)."""

    name = "energy"

    def __init__(self, country_iso_code: str | None = None, online: bool = False, measure_power_seconds: float = 15.0) -> None:
        super().__init__()
        code = country_iso_code if country_iso_code is not None else env_default("COUNTRY") or DEFAULT_COUNTRY_ISO_CODE
        self.country_iso_code = check_country_iso_code(code)
        self.online = check_flag("codecarbon_online", online)
        self.measure_power_seconds = check_positive_number("measure_power_seconds", measure_power_seconds)
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

    def carried_state_schema(self) -> dict[str, Callable[[Any], bool]]:
        return {phase: is_energy_part for phase in PHASES}

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.stop()

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
        if summary["status"] != "measured":
            return {}
        return {phase: summary[phase] for phase in PHASES if summary[phase] is not None}

    def measure(self, final: bool, collective: bool) -> dict[str, Any]:
        """Read at the end (tracker stopped), and provisionally at the logs after training was told to stop (the last
        step's and train()'s own), so the backends get it."""
        if not final and not self.session.log_after_stop:
            return {}
        if self.tracker is not None:
            self.tracker.stop() if final else self.tracker.flush_phase()
        section = self._summary(collective)
        self.session.update("energy", section)
        eval_kwh = section["eval"]["energy_kwh"] if section.get("eval") else None
        generation_kwh = section["generation"]["energy_kwh"] if section.get("generation") else None
        return {
            "efficiency/energy_joules": _scaled(section["energy_kwh"], JOULES_PER_KWH),
            "efficiency/co2_grams": _scaled(section["co2_kg"], GRAMS_PER_KG),
            "efficiency/eval_energy_joules": _scaled(eval_kwh, JOULES_PER_KWH),
            "efficiency/generation_energy_joules": _scaled(generation_kwh, JOULES_PER_KWH),
        }


def is_energy_part(value: Any) -> bool:
    """A carried phase total: numbers under EnergyPart's field names only, `readings` a whole number."""
    return (is_number_dict(value) and set(value) <= {f.name for f in fields(EnergyPart)}
            and is_count(value.get("readings", 0)))


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor
