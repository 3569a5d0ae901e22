"""Peak memory of this process: CUDA peak allocated/reserved (reset at train begin) and peak resident set size.

Peak RSS on Linux is the kernel's own high-water mark (VmHWM), reset at train begin through
/proc/self/clear_refs, so it is exact and costs nothing per step. Where that is not possible it is sampled with
psutil at step ends.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


@dataclass
class MemoryPeaks:
    """One process's peaks, in bytes; None where not measurable."""

    rank: int
    cuda_peak_allocated_bytes: int | None = None
    cuda_peak_reserved_bytes: int | None = None
    peak_rss_bytes: int | None = None
    rss_method: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _read_vmhwm_bytes() -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class MemoryTracker:
    """Tracks this process's memory peaks from `start()` on."""

    def __init__(self) -> None:
        self.device: torch.device | None = None
        self.rss_method: str | None = None
        self._sampled_peak_rss = 0
        self._process = None

    def start(self, device: torch.device | str | None = None) -> None:
        self.device = torch.device(device) if device is not None else None
        if self.uses_cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        self.rss_method = self._reset_rss_high_water_mark()

    @property
    def uses_cuda(self) -> bool:
        return self.device is not None and self.device.type == "cuda" and torch.cuda.is_available()

    def _reset_rss_high_water_mark(self) -> str | None:
        if sys.platform.startswith("linux"):
            try:
                _CLEAR_REFS.write_text("5")
                if _read_vmhwm_bytes() is not None:
                    return "kernel high-water mark (VmHWM, reset at train begin)"
            except OSError:
                pass
        try:
            import psutil

            self._process = psutil.Process()
            self._sampled_peak_rss = self._process.memory_info().rss
            return "psutil RSS sampled at step ends"
        except Exception:  # noqa: BLE001 - psutil missing or refused: RSS is then unavailable
            return None

    @property
    def needs_sampling(self) -> bool:
        return self._process is not None

    def sample(self) -> None:
        """Sample RSS (only used where the kernel high-water mark is unavailable)."""
        if self._process is not None:
            self._sampled_peak_rss = max(self._sampled_peak_rss, self._process.memory_info().rss)

    def peaks(self, rank: int = 0) -> MemoryPeaks:
        result = MemoryPeaks(rank=rank, rss_method=self.rss_method)
        if self.uses_cuda:
            result.cuda_peak_allocated_bytes = int(torch.cuda.max_memory_allocated(self.device))
            result.cuda_peak_reserved_bytes = int(torch.cuda.max_memory_reserved(self.device))
        if self.rss_method and self.rss_method.startswith("kernel"):
            result.peak_rss_bytes = _read_vmhwm_bytes()
        elif self._process is not None:
            self.sample()
            result.peak_rss_bytes = self._sampled_peak_rss
        return result


def summarize_peaks(per_rank: list[MemoryPeaks]) -> dict:
    """The report's memory section: every rank's peaks and the max over ranks (CUDA allocated, else RSS)."""
    cuda = [p.cuda_peak_allocated_bytes for p in per_rank if p.cuda_peak_allocated_bytes is not None]
    rss = [p.peak_rss_bytes for p in per_rank if p.peak_rss_bytes is not None]
    section: dict = {"per_rank": [p.to_dict() for p in per_rank], "unavailable": {}}
    if cuda:
        section["peak_memory_bytes"], section["peak_memory_kind"] = max(cuda), "cuda_allocated"
    elif rss:
        section["peak_memory_bytes"], section["peak_memory_kind"] = max(rss), "process_rss"
    else:
        section["peak_memory_bytes"], section["peak_memory_kind"] = None, None
        section["unavailable"]["peak_memory_bytes"] = "neither CUDA memory statistics nor process RSS could be read"
    section["peak_rss_bytes"] = max(rss) if rss else None
    section["cuda_peak_reserved_bytes"] = max((p.cuda_peak_reserved_bytes for p in per_rank if p.cuda_peak_reserved_bytes is not None), default=None)
    return section
