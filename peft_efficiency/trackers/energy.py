"""Energy and carbon with codecarbon, training and evaluation kept apart.

One tracker per node (run it only on the node's local main process): codecarbon's "machine" tracking mode
measures the whole node, so one tracker per process would count the node several times. Offline mode is the
default (no network: the carbon intensity comes from codecarbon's bundled per-country table). Every codecarbon
call is guarded: if codecarbon is missing or raises, training goes on and the figures are reported as
unavailable with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_COUNTRY_ISO_CODE = "USA"
PHASES = ("train", "eval")
logger = logging.getLogger(__name__)


@dataclass
class EnergyPart:
    """Energy of one phase (summed over the phase's intervals)."""

    energy_kwh: float = 0.0
    co2_kg: float = 0.0
    cpu_kwh: float = 0.0
    gpu_kwh: float = 0.0
    ram_kwh: float = 0.0
    seconds: float = 0.0

    def add(self, data: Any) -> None:
        """Add one codecarbon EmissionsData delta."""
        self.energy_kwh += float(data.energy_consumed or 0.0)
        self.co2_kg += float(data.emissions or 0.0)
        self.cpu_kwh += float(data.cpu_energy or 0.0)
        self.gpu_kwh += float(data.gpu_energy or 0.0)
        self.ram_kwh += float(data.ram_energy or 0.0)
        self.seconds += float(data.duration or 0.0)

    def merge(self, other: "EnergyPart") -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


def describe_sources(tracker: Any) -> dict[str, str]:
    """How codecarbon obtained each part: a hardware counter or an estimate."""
    sources: dict[str, str] = {}
    for hardware in getattr(tracker, "_hardware", []) or []:
        kind = type(hardware).__name__
        description = hardware.description() if hasattr(hardware, "description") else kind
        if kind == "CPU":
            mode = getattr(hardware, "_mode", "")
            counter = mode in ("intel_rapl", "intel_power_gadget", "windows_emi", "powermetrics")
            how = "hardware counter" if counter else "estimate"
            sources["cpu"] = f"{how} ({mode or 'unknown mode'}): {description}"
        elif kind == "GPU":
            sources["gpu"] = f"hardware counter (NVML energy/power): {description}"
        elif kind == "RAM":
            sources["ram"] = f"estimate (codecarbon RAM power model): {description}"
        else:
            sources[kind.lower()] = description
    return sources


class EnergyTracker:
    """Wraps one codecarbon tracker; `switch(phase)` moves the meter between training and evaluation."""

    def __init__(self, country_iso_code: str = DEFAULT_COUNTRY_ISO_CODE, online: bool = False, measure_power_seconds: float = 15.0) -> None:
        self.country_iso_code = country_iso_code
        self.online = online
        self.measure_power_seconds = measure_power_seconds
        self.parts = {phase: EnergyPart() for phase in PHASES}
        self.phase: str | None = None
        self.sources: dict[str, str] = {}
        self.unavailable_reason: str | None = None
        self._tracker: Any = None

    @property
    def active(self) -> bool:
        return self._tracker is not None and self.unavailable_reason is None

    def _fail(self, when: str, exc: BaseException) -> None:
        self.unavailable_reason = f"codecarbon raised {when}: {type(exc).__name__}: {exc}"
        logger.warning("peft-efficiency: energy unavailable (%s); training continues", self.unavailable_reason)
        self._tracker = None

    def start(self, phase: str = "train") -> None:
        try:
            import codecarbon
        except ImportError:
            self.unavailable_reason = "codecarbon is not installed (fix: pip install 'peft-efficiency[carbon]')"
            return
        try:
            common = dict(save_to_file=False, log_level="error", tracking_mode="machine", allow_multiple_runs=True,
                          measure_power_secs=self.measure_power_seconds)
            if self.online:
                self._tracker = codecarbon.EmissionsTracker(**common)
            else:
                self._tracker = codecarbon.OfflineEmissionsTracker(country_iso_code=self.country_iso_code, **common)
            self._tracker.start_task(phase)
            self.phase = phase
            self.sources = describe_sources(self._tracker)
        except Exception as exc:  # noqa: BLE001 - measurement never breaks training
            self._fail("at start", exc)

    def _close_phase(self) -> None:
        data = self._tracker.stop_task()
        if data is None:
            raise RuntimeError("stop_task returned no measurement")
        self.parts[self.phase].add(data)  # type: ignore[index]

    def switch(self, phase: str) -> None:
        """Close the current phase's interval and open one for `phase` (no-op if already there)."""
        if not self.active or phase == self.phase:
            return
        try:
            self._close_phase()
            self._tracker.start_task(phase)
            self.phase = phase
        except Exception as exc:  # noqa: BLE001
            self._fail(f"while switching to {phase}", exc)

    def flush_phase(self) -> None:
        """Close the current interval and open a new one in the same phase, so `result()` is up to date."""
        if not self.active or self.phase is None:
            return
        try:
            self._close_phase()
            self._tracker.start_task(self.phase)
        except Exception as exc:  # noqa: BLE001
            self._fail("while reading energy (checkpoint or end of training)", exc)

    def stop(self) -> None:
        if not self.active:
            return
        try:
            self._close_phase()
            self.phase = None
            self._tracker.stop()
        except Exception as exc:  # noqa: BLE001
            self._fail("at stop", exc)
        self._tracker = None

    def result(self) -> dict[str, Any]:
        """This node's figures (None where unavailable)."""
        if self.unavailable_reason is not None:
            return {"unavailable_reason": self.unavailable_reason}
        return {"parts": {phase: asdict(part) for phase, part in self.parts.items()}, "sources": self.sources}


def summarize_energy(node_results: list[dict[str, Any]], country_iso_code: str, online: bool,
                     prior: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report's energy section from every node tracker's `result()` (kWh and kg summed over nodes),
    plus `prior` ({"train": EnergyPart fields, "eval": ...}) carried from the sessions before a resume."""
    section: dict[str, Any] = {"country_iso_code": None if online else country_iso_code, "offline": not online,
                               "trackers": len(node_results)}
    reasons = [r["unavailable_reason"] for r in node_results if "unavailable_reason" in r]
    if not node_results or reasons:
        reason = "; ".join(reasons) or "no energy tracker ran"
        section.update(status="unavailable", reason=reason, energy_kwh=None, co2_kg=None, train=None, eval=None, sources={})
        return section
    totals = {phase: EnergyPart(**(prior or {}).get(phase, {})) for phase in PHASES}
    for result in node_results:
        for phase in PHASES:
            totals[phase].merge(EnergyPart(**result["parts"][phase]))
    section.update(
        status="measured", reason=None,
        energy_kwh=totals["train"].energy_kwh, co2_kg=totals["train"].co2_kg,
        train=asdict(totals["train"]), eval=asdict(totals["eval"]),
        sources=node_results[0].get("sources", {}),
    )
    return section
