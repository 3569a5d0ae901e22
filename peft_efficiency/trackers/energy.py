"""Energy and carbon with codecarbon, training, evaluation and checkpoint saving kept apart.

One tracker per node (run it only on the node's local main process): codecarbon's "machine" tracking mode
measures the whole node, so one tracker per process would count the node several times. Offline mode is the
default (no network: the carbon intensity comes from codecarbon's bundled per-country table). Every codecarbon
call is guarded: if codecarbon is missing or raises, training goes on and the figures are reported as
unavailable with the reason.

Each phase is a codecarbon task, and codecarbon pauses its own periodic scheduler while a task runs, so a task
is read only when it stops. A counter that wraps (Intel RAPL's energy counter wraps every few minutes to tens of
minutes at server power, and codecarbon corrects at most one wrap per reading) would then lose energy in a long
phase. So a daemon thread closes and reopens the current phase's task every `measure_power_seconds`: each
interval is one reading, booked to the phase it ran in, and the counters are read at least that often.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_COUNTRY_ISO_CODE = "USA"
PHASES = ("train", "eval", "save", "generation")
SAMPLER_THREAD_NAME = "peft-efficiency-energy-sampler"
logger = logging.getLogger(__name__)


@dataclass
class EnergyPart:
    """Energy of one phase (summed over the phase's readings)."""

    energy_kwh: float = 0.0
    co2_kg: float = 0.0
    cpu_kwh: float = 0.0
    gpu_kwh: float = 0.0
    ram_kwh: float = 0.0
    seconds: float = 0.0
    readings: int = 0

    def add(self, data: Any) -> None:
        """Add one codecarbon EmissionsData delta (one reading)."""
        self.energy_kwh += float(data.energy_consumed or 0.0)
        self.co2_kg += float(data.emissions or 0.0)
        self.cpu_kwh += float(data.cpu_energy or 0.0)
        self.gpu_kwh += float(data.gpu_energy or 0.0)
        self.ram_kwh += float(data.ram_energy or 0.0)
        self.seconds += float(data.duration or 0.0)
        self.readings += 1

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
    """Wraps one codecarbon tracker; `switch(phase)` moves the meter between "train", "eval" and "save".

    Between switches a daemon thread takes a reading every `measure_power_seconds` (see the module docstring).
    Every codecarbon call is made under one lock, so readings and switches never interleave and each interval
    is booked exactly once, to the phase it ran in. `stop()` ends the thread before the last reading.
    """

    def __init__(self, country_iso_code: str = DEFAULT_COUNTRY_ISO_CODE, online: bool = False, measure_power_seconds: float = 15.0) -> None:
        if not measure_power_seconds > 0:
            raise ValueError(f"measure_power_seconds must be > 0, got {measure_power_seconds!r}")
        self.country_iso_code = country_iso_code
        self.online = online
        self.measure_power_seconds = measure_power_seconds
        self.parts = {phase: EnergyPart() for phase in PHASES}
        self.phase: str | None = None
        self.sources: dict[str, str] = {}
        self.unavailable_reason: str | None = None
        self._tracker: Any = None
        self._lock = threading.RLock()
        self._stop_sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self._tracker is not None and self.unavailable_reason is None

    def _fail(self, when: str, exc: BaseException) -> None:
        self._unavailable(f"codecarbon raised {when}: {type(exc).__name__}: {exc}")

    def _unavailable(self, reason: str) -> None:
        self.unavailable_reason = reason
        logger.warning("peft-efficiency: energy unavailable (%s); training continues", self.unavailable_reason)
        tracker, self._tracker = self._tracker, None
        self._stop_sampling.set()
        try:
            if tracker is not None:
                tracker.stop()  # release codecarbon's own monitoring thread
        except Exception:  # noqa: BLE001 - already unavailable
            pass

    def start(self, phase: str = "train") -> None:
        if phase not in PHASES:
            raise ValueError(f"energy phase must be one of {', '.join(PHASES)}, got {phase!r}")
        try:
            import codecarbon
        except ImportError:
            self.unavailable_reason = "codecarbon is not installed (fix: pip install 'peft-efficiency[carbon]')"
            return
        with self._lock:
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
                return
        self._stop_sampling.clear()
        self._sampler = threading.Thread(target=self._sample, name=SAMPLER_THREAD_NAME, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        """The sampler thread: one reading every `measure_power_seconds` until stopped or unavailable."""
        while not self._stop_sampling.wait(self.measure_power_seconds):
            with self._lock:
                if self._stop_sampling.is_set() or not self.active or self.phase is None:
                    return
                try:
                    self._read(reopen=True)
                except Exception as exc:  # noqa: BLE001 - a thread's exception would only be printed
                    self._fail(f"while sampling energy ({self.phase})", exc)
                    return

    def _read(self, reopen: bool) -> None:
        """Close the current interval, book it to the current phase, and (if `reopen`) open the next one."""
        data = self._tracker.stop_task()
        if data is None:
            raise RuntimeError("stop_task returned no measurement")
        self.parts[self.phase].add(data)  # type: ignore[index]
        _forget_finished_tasks(self._tracker)
        if reopen:
            self._tracker.start_task(self.phase)

    def switch(self, phase: str) -> None:
        """Close the current phase's interval and open one for `phase` (no-op if already there)."""
        with self._lock:
            if not self.active or phase == self.phase:
                return
            if phase not in PHASES:  # a caller's mistake: no figures rather than a broken training run
                self._unavailable(f"energy phase {phase!r} is not one of {', '.join(PHASES)}")
                return
            try:
                self._read(reopen=False)
                self._tracker.start_task(phase)
                self.phase = phase
            except Exception as exc:  # noqa: BLE001
                self._fail(f"while switching to {phase}", exc)

    def flush_phase(self) -> None:
        """Close the current interval and open a new one in the same phase, so `result()` is up to date."""
        with self._lock:
            if not self.active or self.phase is None:
                return
            try:
                self._read(reopen=True)
            except Exception as exc:  # noqa: BLE001
                self._fail("while reading energy (checkpoint or end of training)", exc)

    def stop(self) -> None:
        """End the sampler thread, take the last reading and stop codecarbon (idempotent)."""
        self._stop_sampling.set()
        sampler, self._sampler = self._sampler, None
        if sampler is not None and sampler is not threading.current_thread():
            sampler.join(timeout=max(10.0, 2 * self.measure_power_seconds))
        with self._lock:
            if not self.active:
                return
            try:
                self._read(reopen=False)
                self.phase = None
                self._tracker.stop()
            except Exception as exc:  # noqa: BLE001
                self._fail("at stop", exc)
            self._tracker = None

    def result(self) -> dict[str, Any]:
        """This node's figures (None where unavailable), with which node it is."""
        with self._lock:
            if self.unavailable_reason is not None:
                return {"unavailable_reason": self.unavailable_reason, "node": node_identity()}
            return {"parts": {phase: asdict(part) for phase, part in self.parts.items()}, "sources": self.sources,
                    "measure_power_seconds": self.measure_power_seconds, "node": node_identity()}


def node_identity() -> dict[str, Any]:
    """This node: host name, node rank (torchrun's GROUP_RANK, else NODE_RANK) and the tracker's process id."""
    rank = os.environ.get("GROUP_RANK", os.environ.get("NODE_RANK"))
    return {"host": socket.gethostname(), "node_rank": int(rank) if rank and rank.isdigit() else None, "pid": os.getpid()}


def describe_nodes(node_results: list[dict[str, Any]]) -> dict[str, Any]:
    """The nodes that measured, and a note where two of them are one machine (each measures the same hardware)."""
    nodes = [result["node"] for result in node_results if isinstance(result.get("node"), dict)]
    hosts = [node["host"] for node in nodes]
    shared = sorted({host for host in hosts if hosts.count(host) > 1})
    note = (f"{len(nodes)} node trackers ran on {len(set(hosts))} machine(s): nodes on {', '.join(shared)} measure the "
            "same hardware, so its energy is counted once per node there" if shared else None)
    return {"nodes": nodes, "nodes_note": note}


def _forget_finished_tasks(tracker: Any) -> None:
    """Drop codecarbon's record of finished tasks (~2.4 kB per reading otherwise, kept until the tracker goes)."""
    tasks = getattr(tracker, "_tasks", None)
    if isinstance(tasks, dict):
        for name in [name for name, task in tasks.items() if getattr(task, "is_active", True) is False]:
            del tasks[name]


def summarize_energy(node_results: list[dict[str, Any]], country_iso_code: str, online: bool,
                     prior: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report's energy section from every node tracker's `result()` (kWh, kg and readings summed over nodes),
    plus `prior` ({"train": EnergyPart fields, "eval": ..., "save": ...}) carried from the sessions before a resume.
    `energy_kwh`/`co2_kg` are training's: evaluation and checkpoint saving are kept apart, as their time is;
    `save` is None when no reading was booked to it (no checkpoint, or a session that does not switch to "save");
    `generation` (trainers that generate while training) likewise."""
    section: dict[str, Any] = {"country_iso_code": None if online else country_iso_code, "offline": not online,
                               "trackers": len(node_results)}
    reasons = [r["unavailable_reason"] for r in node_results if "unavailable_reason" in r]
    if not node_results or reasons:
        reason = "; ".join(reasons) or "no energy tracker ran"
        section.update(status="unavailable", reason=reason, energy_kwh=None, co2_kg=None, sources={},
                       measure_power_seconds=None, **{phase: None for phase in PHASES})
        return section
    totals = {phase: EnergyPart(**(prior or {}).get(phase, {})) for phase in PHASES}
    for result in node_results:
        for phase in PHASES:
            totals[phase].merge(EnergyPart(**result["parts"].get(phase, {})))
    section.update(
        status="measured", reason=None,
        energy_kwh=totals["train"].energy_kwh, co2_kg=totals["train"].co2_kg,
        train=asdict(totals["train"]), eval=asdict(totals["eval"]),
        save=asdict(totals["save"]) if totals["save"].readings else None,  # None: no save booked apart (in "train")
        generation=asdict(totals["generation"]) if totals["generation"].readings else None,
        sources=node_results[0].get("sources", {}), measure_power_seconds=node_results[0].get("measure_power_seconds"),
        **describe_nodes(node_results),
    )
    return section
