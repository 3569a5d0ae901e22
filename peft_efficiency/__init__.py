"""peft-efficiency: measure what a fine-tuning run cost (parameters, time, memory, energy, FLOPs) and what it bought.

The public API is flat and lazily imported, so `peft-efficiency tasks-path` does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY_EXPORTS: dict[str, str] = {
    "count_parameters": "peft_efficiency.params",
    "ParameterCount": "peft_efficiency.params",
    "EfficiencyCallback": "peft_efficiency.callbacks",
    "ParameterCallback": "peft_efficiency.callbacks",
    "ThroughputCallback": "peft_efficiency.callbacks",
    "MemoryCallback": "peft_efficiency.callbacks",
    "EnergyCallback": "peft_efficiency.callbacks",
    "FlopsCallback": "peft_efficiency.callbacks",
    "REPORT_SCHEMA_VERSION": "peft_efficiency.report",
    "load_report": "peft_efficiency.report",
    "ReportError": "peft_efficiency.report",
}

__all__ = ["__version__", *_LAZY_EXPORTS]


def __getattr__(name: str) -> Any:
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'peft_efficiency' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
