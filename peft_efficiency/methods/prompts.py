"""peft prompt-learning methods: prefix (prefix tuning), ptuning (p-tuning), prompt (prompt tuning).

Defaults follow seeds 000/002: 20 virtual tokens; p-tuning's MLP prompt encoder with hidden size 128.
Prompt tuning and p-tuning prepend virtual tokens to the input embeddings, so per-token outputs (QA start/end
logits) gain `prepended_virtual_tokens(model)` leading positions; prefix tuning feeds past key/values instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from peft_efficiency.methods.peft_adapters import wrap_with_peft
from peft_efficiency.methods.prefix_support import check_model_accepts_prefix
from peft_efficiency.methods.registry import MethodError, register_method


def check_embedding_access(model: nn.Module, method: str) -> None:
    """Raise `MethodError` unless `model` is a transformers model exposing its input word embeddings."""
    problem = None
    if getattr(model, "config", None) is None or not hasattr(model, "get_input_embeddings"):
        problem = "it is not a transformers model with a config and get_input_embeddings()"
    else:
        try:
            embeddings = model.get_input_embeddings()
        except (NotImplementedError, AttributeError) as exc:
            problem = f"get_input_embeddings() failed ({type(exc).__name__})"
        else:
            if not isinstance(embeddings, nn.Embedding):
                problem = f"get_input_embeddings() returned {type(embeddings).__name__}, not nn.Embedding"
    if problem:
        raise MethodError(
            f"{method} needs access to the input word embeddings of {type(model).__name__}, but {problem}; "
            "use lora, ia3, bitfit or full for this model"
        )


def _virtual_tokens(model: nn.Module, peft_types: tuple[str, ...]) -> int:
    config = getattr(model, "active_peft_config", None)
    peft_type = str(getattr(getattr(config, "peft_type", None), "value", getattr(config, "peft_type", "")))
    return int(config.num_virtual_tokens) if peft_type in peft_types else 0


def prepended_virtual_tokens(model: nn.Module) -> int:
    """How many virtual-token positions a prompt/p-tuning model prepends to per-token outputs (0 otherwise)."""
    return _virtual_tokens(model, ("PROMPT_TUNING", "P_TUNING"))


def prefix_virtual_tokens(model: nn.Module) -> int:
    """How many past key/value positions a prefix-tuning model puts before the input (0 otherwise).

    The outputs keep the input's length, but the model numbers the input's positions after the prefix, so the
    prefix takes this many rows of the position table.
    """
    return _virtual_tokens(model, ("PREFIX_TUNING",))


@dataclass
class PrefixOptions:
    num_virtual_tokens: int = field(default=20, metadata={"help": "Length of the learned prefix (key/value pairs per layer)."})
    prefix_projection: bool = field(default=False, metadata={"help": "Reparameterise the prefix through an MLP."})

    def __post_init__(self) -> None:
        if self.num_virtual_tokens < 1:
            raise ValueError(f"num_virtual_tokens must be at least 1, got {self.num_virtual_tokens}")


@dataclass
class PtuningOptions:
    num_virtual_tokens: int = field(default=20, metadata={"help": "Number of virtual tokens prepended."})
    encoder_hidden_size: int = field(default=128, metadata={"help": "Hidden size of the prompt encoder."})
    encoder_reparameterization_type: str = field(default="MLP", metadata={"help": "Prompt encoder: MLP or LSTM."})

    def __post_init__(self) -> None:
        if self.num_virtual_tokens < 1 or self.encoder_hidden_size < 1:
            raise ValueError("num_virtual_tokens and encoder_hidden_size must be at least 1")
        if self.encoder_reparameterization_type not in ("MLP", "LSTM"):
            raise ValueError(f"encoder_reparameterization_type must be MLP or LSTM, got {self.encoder_reparameterization_type!r}")


@dataclass
class PromptOptions:
    num_virtual_tokens: int = field(default=20, metadata={"help": "Number of soft-prompt tokens prepended."})

    def __post_init__(self) -> None:
        if self.num_virtual_tokens < 1:
            raise ValueError(f"num_virtual_tokens must be at least 1, got {self.num_virtual_tokens}")


def _wrap(model: nn.Module, config: Any, method: str) -> nn.Module:
    check_embedding_access(model, method)
    return wrap_with_peft(model, config, method)


@register_method("prefix", options=PrefixOptions, is_peft=True, summary="learned key/value prefixes in every layer (Li & Liang 2021)")
def prepare_prefix(model: nn.Module, options: PrefixOptions, task_type: str) -> nn.Module:
    from peft import PrefixTuningConfig

    check_embedding_access(model, "prefix")
    check_model_accepts_prefix(model, task_type)
    config = PrefixTuningConfig(num_virtual_tokens=options.num_virtual_tokens,
                                prefix_projection=options.prefix_projection, task_type=task_type)
    return _wrap(model, config, "prefix")


@register_method("ptuning", options=PtuningOptions, is_peft=True, summary="virtual tokens from a prompt encoder (Liu et al. 2023)")
def prepare_ptuning(model: nn.Module, options: PtuningOptions, task_type: str) -> nn.Module:
    from peft import PromptEncoderConfig

    config = PromptEncoderConfig(num_virtual_tokens=options.num_virtual_tokens,
                                 encoder_hidden_size=options.encoder_hidden_size,
                                 encoder_reparameterization_type=options.encoder_reparameterization_type,
                                 task_type=task_type)
    return _wrap(model, config, "ptuning")


@register_method("prompt", options=PromptOptions, is_peft=True, summary="learned soft-prompt embeddings (Lester et al. 2021)")
def prepare_prompt(model: nn.Module, options: PromptOptions, task_type: str) -> nn.Module:
    from peft import PromptTuningConfig

    return _wrap(model, PromptTuningConfig(num_virtual_tokens=options.num_virtual_tokens, task_type=task_type), "prompt")
