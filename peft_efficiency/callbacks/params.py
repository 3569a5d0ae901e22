"""`ParameterCallback`: trainable and total parameters, by group, and the saved adapter's size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peft_efficiency.callbacks.base import MeasurementCallback
from peft_efficiency.callbacks.measure import Measure
from peft_efficiency.params import ParameterCount, adapter_size_bytes, count_parameters


class ParameterCallback(MeasurementCallback):
    """Counts parameters once, at train begin, with `peft_efficiency.count_parameters`.

    Measures: `efficiency/trainable_params`, `efficiency/total_params`, `efficiency/trainable_percent` (for a PEFT
    model exactly peft's `get_nb_trainable_parameters()`), the per-group breakdown (adapter, prompt_encoder, head,
    bias, embeddings, other) and `adapter_bytes`, the size of the newest adapter file saved in a checkpoint.

    Args:
        log_all_figures: every figure in every training log; default: $PEFT_EFFICIENCY_LOG_ALL_FIGURES, else False.

    Example: `Trainer(..., callbacks=[ParameterCallback()])`
    """

    def __init__(self, log_all_figures: bool | None = None) -> None:
        super().__init__([ParameterMeasure()], log_all_figures)


class ParameterMeasure(Measure):
    """The parameter counts of `ParameterCallback`."""

    name = "params"

    def __init__(self) -> None:
        super().__init__()
        # internal state
        self.count: ParameterCount | None = None
        self.output_dir: str | None = None

    def start(self, args: Any, state: Any, model: Any) -> None:
        self.count = count_parameters(model)
        self.output_dir = args.output_dir
        self.session.update("params", self._section())

    def _section(self) -> dict[str, Any]:
        data = self.count.to_dict()
        data["groups"] = {name: dict(group) for name, group in data["groups"].items()}
        return data

    def checkpoint_saved(self, checkpoint_dir: Path) -> None:
        size = adapter_size_bytes(checkpoint_dir)
        if self.count is not None and size is not None:
            self.count.adapter_bytes = size
            self.session.update("params", {"adapter_bytes": size})

    def measure(self, final: bool, collective: bool) -> dict[str, Any]:
        if self.count is None:
            return {}
        if final and self.output_dir:  # counts do not change during training: the section was written at start
            size = adapter_size_bytes(self.output_dir)
            if size is not None:
                self.count.adapter_bytes = size
                self.session.update("params", {"adapter_bytes": size})
        return {
            "efficiency/trainable_params": self.count.trainable,
            "efficiency/total_params": self.count.total,
            "efficiency/trainable_percent": self.count.trainable_percent,
        }
