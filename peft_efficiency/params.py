"""Parameter counting: trainable, total and a per-group breakdown, the way peft counts them.

For a PEFT model `trainable`/`total` equal `PeftModel.get_nb_trainable_parameters()` exactly: the same rule is
applied to every parameter (ZeRO-3 partitioned tensors count `ds_numel`; bitsandbytes `Params4bit` count
`numel * 2 * bytes-per-storage-element`, i.e. the unpacked weight count). Shared (tied) tensors count once
because `named_parameters()` yields each tensor once.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

GROUPS = ("adapter", "prompt_encoder", "head", "bias", "embeddings", "other")
# Name segments of task heads in transformers models (and peft's modules_to_save copies of them).
HEAD_SEGMENTS = {"classifier", "qa_outputs", "lm_head", "score", "pooler", "cls", "modules_to_save", "original_module"}
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin")
_FALLBACK_ADAPTER_PREFIXES = ("lora_", "hada_", "lokr_", "ia3_", "oft_", "boft_", "vera_", "adaption_", "fourierft_", "ln_tuning_")


@dataclass
class GroupCount:
    """Trainable and total parameters of one group."""

    trainable: int = 0
    total: int = 0


@dataclass
class ParameterCount:
    """What `count_parameters` returns.

    Attributes:
        trainable: parameters with `requires_grad=True`.
        total: all parameters (frozen base weights included).
        trainable_percent: 100 * trainable / total.
        groups: group name -> GroupCount; groups are adapter, prompt_encoder, head, bias, embeddings, other.
        adapter_bytes: size on disk of a saved adapter (`adapter_model.safetensors`/`.bin`), when one was found.
        peft_type: the PEFT method (e.g. "LORA") or None for a plain model.
    """

    trainable: int
    total: int
    groups: dict[str, GroupCount] = field(default_factory=dict)
    adapter_bytes: int | None = None
    peft_type: str | None = None

    @property
    def trainable_percent(self) -> float:
        return 100.0 * self.trainable / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["trainable_percent"] = self.trainable_percent
        return data


def parameter_numel(param: torch.Tensor) -> int:
    """The number of weights a parameter stands for, counted as peft counts it."""
    numel = param.numel()
    if numel == 0 and hasattr(param, "ds_numel"):  # DeepSpeed ZeRO-3 partitioned parameter
        numel = int(param.ds_numel)
    if param.__class__.__name__ == "Params4bit":  # two 4-bit weights per byte of packed storage
        if hasattr(param, "element_size"):
            num_bytes = param.element_size()
        elif hasattr(param, "quant_storage"):
            num_bytes = param.quant_storage.itemsize
        else:
            num_bytes = 1
        numel = numel * 2 * num_bytes
    return numel


def _adapter_prefixes() -> tuple[str, ...]:
    try:
        from peft.mapping import PEFT_TYPE_TO_PREFIX_MAPPING

        prefixes = tuple(p for p in PEFT_TYPE_TO_PREFIX_MAPPING.values() if p)
        return prefixes or _FALLBACK_ADAPTER_PREFIXES
    except ImportError:
        return _FALLBACK_ADAPTER_PREFIXES


def parameter_group(name: str, adapter_prefixes: tuple[str, ...] = _FALLBACK_ADAPTER_PREFIXES) -> str:
    """The group of a parameter, from its qualified name."""
    segments = name.split(".")
    if "prompt_encoder" in segments:
        return "prompt_encoder"
    if any(seg.startswith(adapter_prefixes) for seg in segments):
        return "adapter"
    if HEAD_SEGMENTS.intersection(segments):
        return "head"
    if segments[-1] == "bias":
        return "bias"
    if any("embed" in seg or seg in ("wte", "wpe") for seg in segments):
        return "embeddings"
    return "other"


def adapter_size_bytes(path: str | os.PathLike[str]) -> int | None:
    """Bytes of the adapter weights saved in folder `path` (None when no adapter file is there)."""
    folder = Path(path)
    for filename in ADAPTER_FILES:
        candidate = folder / filename
        if candidate.is_file():
            return candidate.stat().st_size
    return None


def count_parameters(model: Any, adapter_dir: str | os.PathLike[str] | None = None) -> ParameterCount:
    """Count trainable and total parameters of a model, with a per-group breakdown.

    Args:
        model: a `torch.nn.Module` (a transformers model, a `PeftModel`, or anything else).
        adapter_dir: optional folder of a saved adapter, to report its size on disk.

    Example: `count_parameters(peft_model).trainable`
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"count_parameters expects a torch.nn.Module (a transformers or peft model), got {type(model).__name__}; "
            "pass the model object itself, e.g. count_parameters(trainer.model)"
        )
    prefixes = _adapter_prefixes()
    groups = {name: GroupCount() for name in GROUPS}
    trainable = total = 0
    for name, param in model.named_parameters():
        numel = parameter_numel(param)
        group = groups[parameter_group(name, prefixes)]
        group.total += numel
        total += numel
        if param.requires_grad:
            group.trainable += numel
            trainable += numel
    peft_type = None
    if hasattr(model, "get_nb_trainable_parameters") and hasattr(model, "peft_config"):
        trainable, total = model.get_nb_trainable_parameters()  # peft's own figures are the reference
        config = model.peft_config.get(getattr(model, "active_adapter", "default"))
        peft_type = str(getattr(config, "peft_type", "") or "").replace("PeftType.", "") or None
    adapter_bytes = adapter_size_bytes(adapter_dir) if adapter_dir is not None else None
    return ParameterCount(trainable=trainable, total=total, groups=groups, adapter_bytes=adapter_bytes, peft_type=peft_type)
