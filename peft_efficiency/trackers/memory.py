"""Peak memory of this process, training and evaluation apart: CUDA peaks per device and peak resident set size.

CUDA: on every visible device, peak allocated and peak reserved bytes, reset with
`torch.cuda.reset_peak_memory_stats` at train begin and at each switch between training and evaluation. A process's
CUDA figure is the sum of its per-device peaks over the devices its model's parameters live on (one device in
plain or DDP training; several under `device_map`). Peaks on different devices may fall at different moments, so
the sum is an upper bound of what was held at once on those devices, and the peak a device map must fit.

RSS on Linux is the kernel's own high-water mark (VmHWM), reset through /proc/self/clear_refs at train begin and at
each phase switch, so each phase's peak is exact and costs nothing per step. Where clear_refs cannot be written,
RSS is sampled with psutil at training step ends: a training figure only, the evaluation peak is then unavailable.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")
PHASES = ("train", "eval")
KERNEL_METHOD = "kernel high-water mark (VmHWM, reset at train begin and at each train/eval switch)"
SAMPLED_METHOD = "psutil RSS sampled at training step ends"
NO_EVALUATION = "no evaluation ran during train()"


@dataclass
class MemoryPeaks:
    """One process's peaks in bytes, training and evaluation apart; None where not measurable.

    `cuda_devices`: one dict per visible CUDA device (`index`, `holds_parameters`, `peak_allocated_bytes`,
    `peak_reserved_bytes`, `eval_peak_allocated_bytes`, `eval_peak_reserved_bytes`). The `cuda_*` totals are
    their sums over the devices holding parameters (see `process_peaks`).
    """

    rank: int
    cuda_peak_allocated_bytes: int | None = None
    cuda_peak_reserved_bytes: int | None = None
    peak_rss_bytes: int | None = None
    eval_cuda_peak_allocated_bytes: int | None = None
    eval_cuda_peak_reserved_bytes: int | None = None
    eval_peak_rss_bytes: int | None = None
    rss_method: str | None = None
    rss_split_unavailable: str | None = None  # why RSS has no train/eval split (None when it has one)
    cuda_unavailable: str | None = None  # why CUDA statistics stopped being read (None when they were not needed)
    cuda_devices: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict:
        """A copy as plain dicts (what `asdict` gives, built directly: it runs at every log)."""
        copy = {f.name: getattr(self, f.name) for f in fields(self)}
        copy["cuda_devices"] = [dict(device) for device in self.cuda_devices]
        return copy


def _read_vmhwm_bytes() -> int | None:
    """The kernel's RSS high-water mark ("VmHWM:   1234 kB" in /proc/self/status), None where absent."""
    try:
        status = _STATUS.read_bytes()  # read at every log: bytes and one search, no per-line split
        start = status.index(b"VmHWM:") + len(b"VmHWM:")
        return int(status[start:status.index(b"\n", start)].split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None


def cuda_peaks(index: int) -> tuple[int, int]:
    """(peak allocated, peak reserved) bytes of CUDA device `index`: `torch.cuda.max_memory_allocated` and
    `max_memory_reserved` from one read of the allocator's statistics (each of those reads and flattens them all)."""
    stats = torch.cuda.memory_stats_as_nested_dict(index)
    return (int(stats.get("allocated_bytes", {}).get("all", {}).get("peak", 0)),
            int(stats.get("reserved_bytes", {}).get("all", {}).get("peak", 0)))


def _reset_vmhwm() -> str | None:
    """Reset the kernel's RSS high-water mark to the current RSS; None if done, else why not."""
    if not sys.platform.startswith("linux"):
        return f"no /proc/self/clear_refs on {sys.platform} (Linux only)"
    try:
        _CLEAR_REFS.write_text("5")
    except OSError as exc:
        return f"{_CLEAR_REFS} cannot be written ({exc.strerror or exc})"
    if _read_vmhwm_bytes() is None:
        return f"{_STATUS} has no readable VmHWM"
    return None


def cuda_parameter_devices(model: Any) -> set[int]:
    """Indices of the CUDA devices holding `model`'s parameters (empty for a CPU or meta model)."""
    try:
        return {p.device.index for p in model.parameters() if p.device.type == "cuda" and p.device.index is not None}
    except Exception:  # noqa: BLE001 - a model without parameters(): fall back to args.device
        return set()


def process_peaks(rank: int, cuda_devices: list[dict[str, Any]], **rss: Any) -> MemoryPeaks:
    """One process's `MemoryPeaks` from its per-device CUDA stats (and RSS fields, passed through).

    Each CUDA total is the sum of that per-device peak over the devices marked `holds_parameters` (every listed
    device if none is marked); a phase no device has a figure for (no evaluation ran) gives None.
    """
    counted = [d for d in cuda_devices if d.get("holds_parameters")] or list(cuda_devices)

    def total(key: str) -> int | None:
        values = [d[key] for d in counted if d.get(key) is not None]
        return sum(values) if values else None

    return MemoryPeaks(rank=rank, cuda_peak_allocated_bytes=total("peak_allocated_bytes"),
                       cuda_peak_reserved_bytes=total("peak_reserved_bytes"),
                       eval_cuda_peak_allocated_bytes=total("eval_peak_allocated_bytes"),
                       eval_cuda_peak_reserved_bytes=total("eval_peak_reserved_bytes"),
                       cuda_devices=[dict(d) for d in cuda_devices], **rss)


def _max_or_none(values: list[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


class MemoryTracker:
    """Tracks this process's memory peaks from `start()` on, one figure per phase ("train", "eval")."""

    def __init__(self) -> None:
        self.phase = "train"
        self.rss_method: str | None = None
        self.rss_split_unavailable: str | None = None
        self.cuda_indices: list[int] = []
        self.parameter_devices: set[int] = set()
        self.cuda_unavailable: str | None = None
        self._rss: dict[str, int | None] = {p: None for p in PHASES}
        self._cuda: dict[str, dict[int, tuple[int, int]]] = {p: {} for p in PHASES}
        self._process = None

    def start(self, device: torch.device | str | None = None, parameter_devices: set[int] | None = None) -> None:
        device = torch.device(device) if device is not None else None
        self.parameter_devices = set(parameter_devices or ())
        wants_cuda = bool(self.parameter_devices) or (device is not None and device.type == "cuda")
        if wants_cuda and torch.cuda.is_available():
            try:
                torch.cuda.init()  # the allocator's per-device statistics exist from here (no context is created)
                self.cuda_indices = list(range(torch.cuda.device_count()))
                if not self.parameter_devices:
                    self.parameter_devices = {device.index if device.index is not None else torch.cuda.current_device()}
                self._reset_cuda()
            except Exception as exc:  # noqa: BLE001 - measurement never breaks training
                self._drop_cuda(exc)
        reason = _reset_vmhwm()
        if reason is None:
            self.rss_method = KERNEL_METHOD
        else:
            self._fall_back_to_sampling(reason)

    @property
    def needs_sampling(self) -> bool:
        return self._process is not None

    def _fall_back_to_sampling(self, reason: str) -> None:
        self.rss_split_unavailable = reason
        try:
            import psutil

            self._process = psutil.Process()
            self.rss_method = SAMPLED_METHOD
            self.sample()
        except Exception:  # noqa: BLE001 - psutil missing or refused: RSS is then unavailable
            self._process, self.rss_method = None, None

    def _drop_cuda(self, exc: Exception) -> None:
        self.cuda_indices = []
        self.cuda_unavailable = f"CUDA memory statistics could not be read ({type(exc).__name__}: {exc})"

    def _reset_cuda(self) -> None:
        for index in self.cuda_indices:
            torch.cuda.reset_peak_memory_stats(index)

    def sample(self) -> None:
        """Sample RSS into the training peak (only where the kernel high-water mark cannot be reset)."""
        if self._process is not None and self.phase == "train":
            rss = self._process.memory_info().rss
            self._rss["train"] = max(self._rss["train"] or 0, rss)

    def _fold(self) -> None:
        """Fold the peaks since the last reset into the current phase's figures (idempotent until a reset)."""
        if self.rss_method == KERNEL_METHOD:
            hwm = _read_vmhwm_bytes()
            if hwm is not None:
                self._rss[self.phase] = max(self._rss[self.phase] or 0, hwm)
        else:
            self.sample()
        try:
            for index in self.cuda_indices:
                allocated, reserved = cuda_peaks(index)
                old_allocated, old_reserved = self._cuda[self.phase].get(index, (0, 0))
                self._cuda[self.phase][index] = (max(old_allocated, int(allocated)), max(old_reserved, int(reserved)))
        except Exception as exc:  # noqa: BLE001
            self._drop_cuda(exc)

    def switch_phase(self, phase: str) -> None:
        """The run moves to `phase`: the interval so far counts for the current phase, then peaks restart."""
        if phase == self.phase or phase not in PHASES:
            return
        self._fold()
        try:
            self._reset_cuda()
        except Exception as exc:  # noqa: BLE001
            self._drop_cuda(exc)
        if self.rss_method == KERNEL_METHOD:
            reason = _reset_vmhwm()
            if reason is not None:
                self._fall_back_to_sampling(f"{reason} at a train/eval switch")
        self.phase = phase

    def peaks(self, rank: int = 0) -> MemoryPeaks:
        self._fold()
        devices = [{"index": index, "holds_parameters": index in self.parameter_devices,
                    "peak_allocated_bytes": self._cuda["train"].get(index, (None, None))[0],
                    "peak_reserved_bytes": self._cuda["train"].get(index, (None, None))[1],
                    "eval_peak_allocated_bytes": self._cuda["eval"].get(index, (None, None))[0],
                    "eval_peak_reserved_bytes": self._cuda["eval"].get(index, (None, None))[1]}
                   for index in self.cuda_indices]
        split = self.rss_method == KERNEL_METHOD
        return process_peaks(rank, devices, rss_method=self.rss_method, rss_split_unavailable=self.rss_split_unavailable,
                             cuda_unavailable=self.cuda_unavailable, peak_rss_bytes=self._rss["train"],
                             eval_peak_rss_bytes=self._rss["eval"] if split else None)


def summarize_peaks(per_rank: list[MemoryPeaks]) -> dict:
    """The report's memory section: every rank's peaks and the max over ranks, training and evaluation apart.

    `peak_memory_bytes` is the training peak: max over ranks of each rank's CUDA allocated sum (see `process_peaks`)
    where CUDA was measured, else of peak RSS. `eval_peak_memory_bytes` is the same for evaluation.
    """
    section: dict = {"per_rank": [p.to_dict() for p in per_rank], "unavailable": {}}
    unavailable = section["unavailable"]
    cuda = _max_or_none([p.cuda_peak_allocated_bytes for p in per_rank])
    rss = _max_or_none([p.peak_rss_bytes for p in per_rank])
    eval_rss = _max_or_none([p.eval_peak_rss_bytes for p in per_rank])
    split_reasons = sorted({p.rss_split_unavailable for p in per_rank if p.rss_split_unavailable})
    cuda_reasons = sorted({p.cuda_unavailable for p in per_rank if p.cuda_unavailable})
    if cuda_reasons:
        unavailable["cuda_peak_allocated_bytes"] = "; ".join(cuda_reasons)
    if eval_rss is None:
        unavailable["eval_peak_rss_bytes"] = (f"train/eval split of RSS not available: {'; '.join(split_reasons)}"
                                              if split_reasons else NO_EVALUATION)
    if cuda is not None:
        section["peak_memory_kind"] = "cuda_allocated"
        section["peak_memory_bytes"] = cuda
        section["eval_peak_memory_bytes"] = _max_or_none([p.eval_cuda_peak_allocated_bytes for p in per_rank])
        if section["eval_peak_memory_bytes"] is None:
            unavailable["eval_peak_memory_bytes"] = NO_EVALUATION
    elif rss is not None:
        section["peak_memory_kind"], section["peak_memory_bytes"], section["eval_peak_memory_bytes"] = "process_rss", rss, eval_rss
        if eval_rss is None:
            unavailable["eval_peak_memory_bytes"] = unavailable["eval_peak_rss_bytes"]
    else:
        section["peak_memory_kind"], section["peak_memory_bytes"], section["eval_peak_memory_bytes"] = None, None, None
        unavailable["peak_memory_bytes"] = "neither CUDA memory statistics nor process RSS could be read"
        unavailable["eval_peak_memory_bytes"] = unavailable["peak_memory_bytes"]
    section["peak_rss_bytes"], section["eval_peak_rss_bytes"] = rss, eval_rss
    section["cuda_peak_reserved_bytes"] = _max_or_none([p.cuda_peak_reserved_bytes for p in per_rank])
    section["eval_cuda_peak_reserved_bytes"] = _max_or_none([p.eval_cuda_peak_reserved_bytes for p in per_rank])
    return section
