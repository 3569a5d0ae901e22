"""`EfficiencyCallback`: every measurement in one callback, plus the labels that describe the run."""

from __future__ import annotations

from typing import Any

from peft_efficiency.callbacks.base import MeasurementCallback
from peft_efficiency.callbacks.energy import EnergyMeasure
from peft_efficiency.callbacks.flops import FlopsMeasure
from peft_efficiency.callbacks.memory import MemoryMeasure
from peft_efficiency.callbacks.options import (
    check_flag,
    check_labels,
    check_non_negative_int,
    check_optional_flag,
    check_optional_str,
    env_default,
    env_flag,
    env_labels,
)
from peft_efficiency.callbacks.params import ParameterMeasure
from peft_efficiency.callbacks.session import RunSession
from peft_efficiency.callbacks.throughput import ThroughputMeasure
from peft_efficiency.model_names import readable_model_name
from peft_efficiency.trackers.distributed import world_size
from peft_efficiency.trackers.environment import collect_environment

_PEFT_TYPE_TO_METHOD = {"LORA": "lora", "LOHA": "loha", "LOKR": "lokr", "IA3": "ia3", "PREFIX_TUNING": "prefix",
                        "P_TUNING": "ptuning", "PROMPT_TUNING": "prompt", "ADALORA": "adalora"}


class EfficiencyCallback(MeasurementCallback):
    """Parameters, time/throughput, memory, energy/carbon and FLOPs of a training run, in one callback.

    Adds `efficiency/...` figures to the Trainer's logs (hence `state.log_history`, every `report_to` backend and
    the metrics `train()` returns; figures that cannot change are logged once) and writes
    `<output_dir>/efficiency_report.json` (schema: `peft_efficiency/report_schema.json`) from the main process:
    at train begin (status "running"), at each log, evaluation and save, and at the end ("completed";
    "interrupted"/"failed" if train() raises, however the callback was attached). `evaluate()`/`predict()` outside
    train() add their metrics to the folder's report. Arguments are checked here; a wrong one raises with a message
    naming it and what it accepts.

    Args:
        method: label of the fine-tuning method; default: $PEFT_EFFICIENCY_METHOD, else from the PEFT config,
            "full" if every parameter trains.
        task: label of the task/data set (runs of different tasks are compared apart); default: $PEFT_EFFICIENCY_TASK.
        model_name: label of the base model; default: $PEFT_EFFICIENCY_MODEL_NAME, else a readable name from
            `config._name_or_path` (a local folder's model card title or folder name; a Hub id as it is).
        labels: any other string labels (recipe, variant, seed...); $PEFT_EFFICIENCY_LABELS ("k=v,k=v") adds to them.
        quality_metric: the eval metric a comparison ranks by; default: `args.metric_for_best_model`.
        greater_is_better: direction of `quality_metric`; default: `args.greater_is_better`, else True.
        energy: measure energy/carbon with codecarbon (extra `carbon`); default: $PEFT_EFFICIENCY_ENERGY, else True.
        country_iso_code, codecarbon_online, measure_power_seconds: passed to `EnergyCallback`.
        warmup_steps: passed to `ThroughputCallback`.
        log_all_figures: every figure in every training log; default: $PEFT_EFFICIENCY_LOG_ALL_FIGURES, else False
            (parameter counts and training-state bytes are logged once, at most 8 changing figures at every
            log, every figure in `train()`'s metrics: see `peft_efficiency.callbacks.log_selection`).

    Example: `Trainer(model=peft_model, args=args, train_dataset=ds, callbacks=[EfficiencyCallback(task="imdb")])`
    """

    def __init__(self, method: str | None = None, task: str | None = None, model_name: str | None = None,
                 labels: dict[str, str] | None = None, quality_metric: str | None = None,
                 greater_is_better: bool | None = None, energy: bool | None = None, country_iso_code: str | None = None,
                 codecarbon_online: bool = False, measure_power_seconds: float = 15.0, warmup_steps: int = 1,
                 log_all_figures: bool | None = None) -> None:
        self.method = check_optional_str("method", method) or env_default("METHOD")
        self.task = check_optional_str("task", task) or env_default("TASK")
        self.model_name = check_optional_str("model_name", model_name) or env_default("MODEL_NAME")
        self.labels = {**env_labels(), **check_labels(labels)}
        self.quality_metric = check_optional_str("quality_metric", quality_metric)
        self.greater_is_better = check_optional_flag("greater_is_better", greater_is_better)
        self.energy_enabled = env_flag("ENERGY", True) if energy is None else check_flag("energy", energy)
        measures = [ParameterMeasure(), ThroughputMeasure(check_non_negative_int("warmup_steps", warmup_steps)),
                    MemoryMeasure(), FlopsMeasure()]
        energy_measure = EnergyMeasure(country_iso_code, codecarbon_online, measure_power_seconds)  # checks them
        if self.energy_enabled:
            measures.append(energy_measure)
        super().__init__(measures, log_all_figures)

    def describe_run(self, args: Any, state: Any, model: Any, session: RunSession) -> None:
        params = next((m.count for m in session.measures if isinstance(m, ParameterMeasure)), None)
        session.labels = {"method": self.method or infer_method(params), "task": self.task,
                          "model_name": self.model_name or infer_model_name(model), "labels": dict(self.labels)}
        metric = self.quality_metric or getattr(args, "metric_for_best_model", None)
        if metric and not metric.startswith("eval_"):
            metric = f"eval_{metric}"
        direction = self.greater_is_better if self.greater_is_better is not None else getattr(args, "greater_is_better", None)
        session.sections["quality"].update(primary_metric=metric, greater_is_better=True if direction is None and metric else direction)
        session.update("environment", environment(args))
        if not self.energy_enabled:
            session.update("energy", {"status": "disabled", "reason": "EfficiencyCallback(energy=False)", "energy_kwh": None, "co2_kg": None})

    def describe_folder(self, args: Any, state: Any, model: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        from peft_efficiency.params import count_parameters

        count = count_parameters(model) if model is not None else None
        labels = {"method": self.method or infer_method(count), "task": self.task,
                  "model_name": self.model_name or infer_model_name(model), "labels": dict(self.labels)}
        return labels, (count.to_dict() if count is not None else {}), environment(args)


def environment(args: Any) -> dict[str, Any]:
    return collect_environment(getattr(args, "device", None), world_size(), _mixed_precision(args), _distributed_type(args))


def infer_method(count: Any) -> str | None:
    if count is None:
        return None
    if count.peft_type:
        return _PEFT_TYPE_TO_METHOD.get(count.peft_type, count.peft_type.lower())
    return "full" if count.trainable == count.total else None


def infer_model_name(model: Any) -> str | None:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    name_or_path = getattr(config, "_name_or_path", None)
    if name_or_path:
        return readable_model_name(name_or_path)
    return type(base).__name__ if base is not None else None


def _mixed_precision(args: Any) -> str | None:
    return "bf16" if getattr(args, "bf16", False) else "fp16" if getattr(args, "fp16", False) else "no"


def _distributed_type(args: Any) -> str | None:
    value = getattr(args, "distributed_state", None)
    return str(getattr(value, "distributed_type", "")) or None if value is not None else None
