"""peft adapter methods that wrap weight matrices: lora, loha, ia3.

Defaults follow seed 000 (LoRA r 8, alpha 32, dropout 0.1; LoHa the same with module dropout; IA3 peft's default).
`target_modules=None` uses peft's per-architecture default; named targets absent from the model raise `MethodError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from peft_efficiency.methods.registry import MethodError, register_method


def adaptable_layer_names(model: nn.Module) -> list[str]:
    """Short names of the layers peft adapters can wrap (Linear, GPT-2 Conv1D), sorted."""
    names = set()
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D":
            names.add(name.rsplit(".", 1)[-1])
    return sorted(names)


def check_target_modules(model: nn.Module, method: str, targets: list[str] | str | None, mapping: dict[str, Any]) -> None:
    """Raise `MethodError` when `targets` (or peft's default for this architecture) names no module of `model`."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    available = ", ".join(adaptable_layer_names(model)) or "(none)"
    if targets is None:
        if model_type not in mapping:
            raise MethodError(
                f"{method}: peft has no default target modules for model type {model_type!r} ({type(model).__name__}); "
                f"set target_modules to some of its linear layers: {available}"
            )
        return
    if isinstance(targets, str):
        return  # a regular expression: peft checks it
    module_names = [name for name, _ in model.named_modules()]
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in module_names)]
    if missing:
        raise MethodError(
            f"{method}: target module(s) {', '.join(missing)} not found in {type(model).__name__}; "
            f"its linear layers are: {available}"
        )


def wrap_with_peft(model: nn.Module, config: Any, method: str) -> nn.Module:
    """`peft.get_peft_model`, with peft's ValueErrors about a model that does not fit turned into `MethodError`."""
    from peft import get_peft_model

    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        raise MethodError(f"{method} does not fit {type(model).__name__}: {exc}") from exc


@dataclass
class LoraOptions:
    r: int = field(default=8, metadata={"help": "Rank of the update matrices."})
    lora_alpha: int = field(default=32, metadata={"help": "Scaling numerator (update scaled by alpha / r)."})
    lora_dropout: float = field(default=0.1, metadata={"help": "Dropout on the LoRA branch input."})
    bias: str = field(default="none", metadata={"help": "Which biases to train: none, all or lora_only."})
    target_modules: list[str] | str | None = field(default=None, metadata={"help": "Layers to adapt; None = peft's default for the architecture."})
    modules_to_save: list[str] | None = field(default=None, metadata={"help": "Extra modules trained in full (peft adds the task head itself)."})

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ValueError(f"r must be at least 1, got {self.r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.bias not in ("none", "all", "lora_only"):
            raise ValueError(f"bias must be none, all or lora_only, got {self.bias!r}")


def lora_config(options: LoraOptions, task_type: str) -> Any:
    """The peft `LoraConfig` for `options`."""
    from peft import LoraConfig

    return LoraConfig(
        r=options.r,
        lora_alpha=options.lora_alpha,
        lora_dropout=options.lora_dropout,
        bias=options.bias,
        target_modules=options.target_modules,
        modules_to_save=options.modules_to_save,
        task_type=task_type,
    )


@register_method("lora", options=LoraOptions, is_peft=True, summary="low-rank updates of chosen weight matrices (Hu et al. 2021)")
def prepare_lora(model: nn.Module, options: LoraOptions, task_type: str) -> nn.Module:
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as mapping

    check_target_modules(model, "lora", options.target_modules, mapping)
    return wrap_with_peft(model, lora_config(options, task_type), "lora")


@dataclass
class LohaOptions:
    r: int = field(default=8, metadata={"help": "Rank of each Hadamard factor."})
    alpha: int = field(default=32, metadata={"help": "Scaling numerator."})
    module_dropout: float = field(default=0.1, metadata={"help": "Probability of disabling the LoHa module in a step."})
    target_modules: list[str] | str | None = field(default=None, metadata={"help": "Layers to adapt; None = peft's default."})

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ValueError(f"r must be at least 1, got {self.r}")
        if not 0.0 <= self.module_dropout < 1.0:
            raise ValueError(f"module_dropout must be in [0, 1), got {self.module_dropout}")


# peft < 0.17 has no default LoHa target modules (TRANSFORMERS_MODELS_TO_LOHA_TARGET_MODULES_MAPPING) for any model.
@register_method("loha", options=LohaOptions, is_peft=True, requires={"peft": ">=0.17"},
                 summary="low-rank Hadamard-product updates (Hyeon-Woo et al. 2021)")
def prepare_loha(model: nn.Module, options: LohaOptions, task_type: str) -> nn.Module:
    from peft import LoHaConfig
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LOHA_TARGET_MODULES_MAPPING as mapping

    check_target_modules(model, "loha", options.target_modules, mapping)
    config = LoHaConfig(r=options.r, alpha=options.alpha, module_dropout=options.module_dropout,
                        target_modules=options.target_modules, task_type=task_type)
    return wrap_with_peft(model, config, "loha")


@dataclass
class IA3Options:
    target_modules: list[str] | str | None = field(default=None, metadata={"help": "Layers whose activations are rescaled; None = peft's default."})
    feedforward_modules: list[str] | str | None = field(default=None, metadata={"help": "Which targets are feed-forward (scaled on the input)."})

    def __post_init__(self) -> None:
        if (self.target_modules is None) != (self.feedforward_modules is None):
            raise ValueError("give target_modules and feedforward_modules together (or neither, for peft's defaults)")


@register_method("ia3", options=IA3Options, is_peft=True, summary="learned rescaling vectors of activations (Liu et al. 2022)")
def prepare_ia3(model: nn.Module, options: IA3Options, task_type: str) -> nn.Module:
    from peft import IA3Config
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING as mapping

    check_target_modules(model, "ia3", options.target_modules, mapping)
    config = IA3Config(target_modules=options.target_modules, feedforward_modules=options.feedforward_modules,
                       task_type=task_type)
    return wrap_with_peft(model, config, "ia3")
