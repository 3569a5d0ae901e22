"""Trainer callbacks: one per concern, and `EfficiencyCallback` bundling them."""

from peft_efficiency.callbacks.efficiency import EfficiencyCallback
from peft_efficiency.callbacks.energy import EnergyCallback
from peft_efficiency.callbacks.flops import FlopsCallback
from peft_efficiency.callbacks.memory import MemoryCallback
from peft_efficiency.callbacks.params import ParameterCallback
from peft_efficiency.callbacks.throughput import ThroughputCallback

__all__ = ["EfficiencyCallback", "EnergyCallback", "FlopsCallback", "MemoryCallback", "ParameterCallback", "ThroughputCallback"]
