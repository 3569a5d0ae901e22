"""QLoRA: LoRA on a base model loaded with 4-bit (NF4) bitsandbytes weights (Dettmers et al. 2023).

It needs a CUDA GPU and bitsandbytes' 4-bit kernels; elsewhere it stops with one `MethodUnavailableError` saying so,
before any model is loaded (`model_load_kwargs("qlora")`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from peft_efficiency.availability import is_bitsandbytes_available
from peft_efficiency.methods.peft_adapters import LoraOptions, check_target_modules, lora_config, wrap_with_peft
from peft_efficiency.methods.registry import MethodError, MethodUnavailableError, register_method
from peft_efficiency.versions import is_version


@dataclass
class QloraOptions(LoraOptions):
    quant_type: str = field(default="nf4", metadata={"help": "4-bit data type: nf4 or fp4."})
    double_quant: bool = field(default=True, metadata={"help": "Also quantize the quantization constants."})
    compute_dtype: str = field(default="bfloat16", metadata={"help": "dtype of the 4-bit matmuls: bfloat16, float16 or float32."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.quant_type not in ("nf4", "fp4"):
            raise ValueError(f"quant_type must be nf4 or fp4, got {self.quant_type!r}")
        if self.compute_dtype not in ("bfloat16", "float16", "float32"):
            raise ValueError(f"compute_dtype must be bfloat16, float16 or float32, got {self.compute_dtype!r}")


def qlora_unavailable_reason() -> str | None:
    """Why QLoRA cannot run on this machine, or None when it can."""
    import torch

    reasons = []
    if not torch.cuda.is_available():
        reasons.append(f"no CUDA GPU is visible (torch {torch.__version__})")
    if not is_bitsandbytes_available():
        reasons.append("bitsandbytes is not installed")
    if not reasons:
        return None
    return (
        "qlora cannot run here: it needs a CUDA GPU and bitsandbytes' 4-bit kernels, and " + "; ".join(reasons) + ". "
        "It must run on a GPU machine with `pip install 'peft-efficiency[quant]'`; use lora for the same adapter in full precision"
    )


# Task heads kept in full precision: peft trains a copy of the classifier (`modules_to_save`), which a 4-bit weight
# cannot be, and the LM head stays unquantized as transformers does by default. transformers' own default guesses
# the head from the model's last parameter, which for a head with a bias is `classifier.bias` and skips nothing.
# Naming the modules replaces that default, so `lm_head` is listed too.
HEADS_KEPT_IN_FULL_PRECISION = ("classifier", "score", "qa_outputs", "lm_head")


def qlora_load_kwargs(options: QloraOptions) -> dict[str, Any]:
    """`from_pretrained` arguments loading the base model in 4-bit, its task head in full precision."""
    reason = qlora_unavailable_reason()
    if reason:
        raise MethodUnavailableError(reason)
    import torch
    from transformers import BitsAndBytesConfig

    dtype = getattr(torch, options.compute_dtype)
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=options.quant_type,
                               bnb_4bit_use_double_quant=options.double_quant, bnb_4bit_compute_dtype=dtype,
                               llm_int8_skip_modules=list(HEADS_KEPT_IN_FULL_PRECISION))
    # transformers 4.56 renamed from_pretrained's `torch_dtype` to `dtype` (the old name warns from then on)
    dtype_argument = "dtype" if is_version("transformers", ">=4.56") else "torch_dtype"
    return {"quantization_config": quant, dtype_argument: dtype}


@register_method("qlora", options=QloraOptions, is_peft=True, load_kwargs=qlora_load_kwargs,
                 summary="LoRA on a 4-bit quantized base model (needs CUDA + bitsandbytes)")
def prepare_qlora(model: nn.Module, options: QloraOptions, task_type: str) -> nn.Module:
    reason = qlora_unavailable_reason()
    if reason:
        raise MethodUnavailableError(reason)
    if not getattr(model, "is_loaded_in_4bit", False):
        raise MethodError(
            "qlora needs the base model loaded in 4-bit: pass **model_load_kwargs('qlora') to from_pretrained"
        )
    from peft import prepare_model_for_kbit_training
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as mapping

    check_target_modules(model, "qlora", options.target_modules, mapping)
    model = prepare_model_for_kbit_training(model)
    return wrap_with_peft(model, lora_config(options, task_type), "qlora")
