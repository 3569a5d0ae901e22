"""`EfficiencyCallback`: every measurement in one callback, plus the labels that describe the run."""

from __future__ import annotations

from typing import Any

from peft_efficiency.callbacks.base import MeasurementCallback
from peft_efficiency.callbacks.energy import EnergyCallback
from peft_efficiency.callbacks.flops import FlopsCallback
from peft_efficiency.callbacks.memory import MemoryCallback
from peft_efficiency.callbacks.params import ParameterCallback
from peft_efficiency.callbacks.throughput import ThroughputCallback
from peft_efficiency.trackers.environment import collect_environment
from peft_efficiency.trackers.distributed import world_size

_PEFT_TYPE_TO_METHOD = {"LORA": "lora", "LOHA": "loha", "LOKR": "lokr", "IA3": "ia3", "PREFIX_TUNING": "prefix",
                        "P_TUNING": "ptuning", "PROMPT_TUNING": "prompt", "ADALORA": "adalora"}


class EfficiencyCallback(MeasurementCallback):
    """Parameters, time/throughput, memory, energy/carbon and FLOPs of a training run, in one callback.

    Adds `efficiency/...` figures to the Trainer's logs (hence `state.log_history`, every `report_to` backend and
    the metrics `train()` returns) and writes `<output_dir>/efficiency_report.json` (schema:
    `peft_efficiency/report_schema.json`) from the main process: at train begin (status "running"), at each log,
    evaluation and save, and at the end ("completed"; "interrupted"/"failed" if train() raises).

    Args:
        method: label of the fine-tuning method; default: from the PEFT config, "full" if every parameter trains.
        task: label of the task/data set (runs of different tasks are compared apart).
        model_name: label of the base model; default: `config._name_or_path`.
        labels: any other string labels (recipe, variant, seed...).
        quality_metric: the eval metric a comparison ranks by; default: `args.metric_for_best_model`.
        greater_is_better: direction of `quality_metric`; default: `args.greater_is_better`, else True.
        energy: measure energy/carbon with codecarbon (extra `carbon`).
        country_iso_code, codecarbon_online, measure_power_seconds: passed to `EnergyCallback`.
        warmup_steps: passed to `ThroughputCallback`.

    Example: `Trainer(model=peft_model, args=args, train_dataset=ds, callbacks=[EfficiencyCallback(task="imdb")])`
    """

    name = "efficiency"

    def __init__(self, method: str | None = None, task: str | None = None, model_name: str | None = None,
                 labels: dict[str, str] | None = None, quality_metric: str | None = None,
                 greater_is_better: bool | None = None, energy: bool = True, country_iso_code: str | None = None,
                 codecarbon_online: bool = False, measure_power_seconds: float = 15.0, warmup_steps: int = 1) -> None:
        super().__init__()
        self.method, self.task, self.model_name = method, task, model_name
        self.labels = dict(labels or {})
        self.quality_metric, self.greater_is_better = quality_metric, greater_is_better
        self.energy_enabled = energy
        self._parts: list[MeasurementCallback] = [ParameterCallback(), ThroughputCallback(warmup_steps=warmup_steps),
                                                  MemoryCallback(), FlopsCallback()]
        if energy:
            self._parts.append(EnergyCallback(country_iso_code, codecarbon_online, measure_power_seconds))

    def parts(self) -> list[MeasurementCallback]:
        return self._parts

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        super().on_train_begin(args, state, control, model=model, **kwargs)
        session = self.session
        params = self._parts[0].count if isinstance(self._parts[0], ParameterCallback) else None
        session.labels = {"method": self.method or infer_method(params), "task": self.task,
                          "model_name": self.model_name or infer_model_name(model), "labels": self.labels}
        metric = self.quality_metric or getattr(args, "metric_for_best_model", None)
        if metric and not metric.startswith("eval_"):
            metric = f"eval_{metric}"
        direction = self.greater_is_better if self.greater_is_better is not None else getattr(args, "greater_is_better", None)
        session.sections["quality"].update(primary_metric=metric, greater_is_better=True if direction is None and metric else direction)
        session.update("environment", collect_environment(getattr(args, "device", None), world_size(),
                                                          _mixed_precision(args), _distributed_type(args)))
        if not self.energy_enabled:
            session.update("energy", {"status": "disabled", "reason": "EfficiencyCallback(energy=False)", "energy_kwh": None, "co2_kg": None})
        session.write()


def infer_method(count: Any) -> str | None:
    if count is None:
        return None
    if count.peft_type:
        return _PEFT_TYPE_TO_METHOD.get(count.peft_type, count.peft_type.lower())
    return "full" if count.trainable == count.total else None


def infer_model_name(model: Any) -> str | None:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    return getattr(config, "_name_or_path", None) or (type(base).__name__ if base is not None else None)


def _mixed_precision(args: Any) -> str | None:
    return "bf16" if getattr(args, "bf16", False) else "fp16" if getattr(args, "fp16", False) else "no"


def _distributed_type(args: Any) -> str | None:
    value = getattr(args, "distributed_state", None)
    return str(getattr(value, "distributed_type", "")) or None if value is not None else None
