"""Fine-tuning methods by name: `prepare_model(model, "lora", {...})`, `available_methods()`.

Importing this package imports each method family, whose decorators fill the registry.
"""

from __future__ import annotations

from peft_efficiency.methods import freezing, peft_adapters, prompts, qlora  # noqa: F401  (register the methods)
from peft_efficiency.methods.prompts import prefix_virtual_tokens, prepended_virtual_tokens
from peft_efficiency.methods.qlora import qlora_unavailable_reason
from peft_efficiency.methods.registry import (
    MethodError,
    MethodSpec,
    MethodUnavailableError,
    available_methods,
    get_method,
    infer_task_type,
    make_options,
    method_requirements,
    model_load_kwargs,
    prepare_model,
    register_method,
)

__all__ = [
    "MethodError",
    "MethodSpec",
    "MethodUnavailableError",
    "available_methods",
    "get_method",
    "infer_task_type",
    "make_options",
    "method_requirements",
    "model_load_kwargs",
    "prepare_model",
    "prefix_virtual_tokens",
    "prepended_virtual_tokens",
    "qlora_unavailable_reason",
    "register_method",
]
