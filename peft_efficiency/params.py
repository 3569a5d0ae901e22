"""Parameter counting: trainable, total and a per-group breakdown, the way peft counts them.

For a PEFT model `trainable`/`total` equal `PeftModel.get_nb_trainable_parameters()` exactly: the same rule is
applied to every parameter (ZeRO-3 partitioned tensors count `ds_numel`; bitsandbytes `Params4bit` count
`numel * 2 * bytes-per-storage-element`, i.e. the unpacked weight count). Shared (tied) tensors count once
because `named_parameters()` yields each tensor once.

Sharded models count as the unsharded model: FSDP2 (`fully_shard`) parameters are DTensors whose `numel()` is
already the global one; FSDP1 keeps each rank's shard in a `FlatParameter`, so its metadata (`_numels`, the
unsharded size of each original parameter, and `_param_infos`, their modules) stands in for the local sizes, with
`use_orig_params` (the original parameters are views of the local shard, often empty) and without (the flat
parameter itself), whether `model` is the FSDP wrapper or the model it wrapped (what Trainer callbacks get).
peft's `get_nb_trainable_parameters()` sees only the local shard there, so its figures are not used under FSDP1.
"""

from __future__ import annotations

import gc
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


def parameter_numel(param: torch.Tensor, numel: int | None = None) -> int:
    """The number of weights a parameter stands for, counted as peft counts it.

    `numel`: the parameter's unsharded number of elements when it is known apart (FSDP1), else `param.numel()`.
    """
    numel = param.numel() if numel is None else numel
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


def _fsdp1_flat_parameters(model: torch.nn.Module) -> list[Any]:
    """The FSDP1 `FlatParameter`s that hold parameters of `model` ([] without FSDP1).

    Units inside `model` are found by walking it. The Trainer hands callbacks the model it was given, which
    FSDP1 wrapped from outside: the enclosing unit (holding e.g. the embeddings and the head) is then not
    reachable from `model`, so it is looked up among live objects (one pass at train begin, under FSDP1 only).
    """
    if not torch.distributed.is_available():
        return []
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel
        from torch.distributed.tensor import DTensor
    except ImportError:
        return []
    units = {id(unit): unit for unit in FullyShardedDataParallel.fsdp_modules(model)}
    wrapped_from_outside = (getattr(model, "_is_fsdp_managed_module", False) and not isinstance(model, FullyShardedDataParallel)
                            and not any(isinstance(param, DTensor) for param in model.parameters()))  # (FSDP2 marks it too)
    if wrapped_from_outside:
        units.update((id(obj), obj) for obj in gc.get_objects() if issubclass(type(obj), FullyShardedDataParallel))
    flats = [getattr(getattr(unit, "_handle", None), "flat_param", None) for unit in units.values()]
    return [flat for flat in flats if flat is not None and all(hasattr(flat, a) for a in ("_numels", "_param_infos"))]


def _named_counts(model: torch.nn.Module) -> tuple[list[tuple[str, int, bool]], bool]:
    """([(name, weights, trainable)] of the unsharded model, whether FSDP1 metadata replaced local sizes).

    FSDP1 with `use_orig_params`: each original parameter takes its unsharded size from its flat parameter's
    `_numels`. Without: a flat parameter stands for its original parameters (`_param_infos`, `_numels`), named
    after their modules in `model`. Only original parameters of modules in `model` count.
    """
    module_names = {id(module): name for name, module in model.named_modules()}
    flat_ids: set[int] = set()
    unsharded: dict[int, int] = {}  # use_orig_params: id(original parameter) -> unsharded numel
    from_flat: list[tuple[str, int, bool]] = []  # without use_orig_params
    for flat in _fsdp1_flat_parameters(model):
        originals = getattr(flat, "_params", None)
        for index, (info, numel) in enumerate(zip(flat._param_infos, flat._numels)):
            if id(info.module) not in module_names:
                continue  # another model's unit (e.g. a reference model)
            flat_ids.add(id(flat))
            if originals:
                unsharded[id(originals[index])] = int(numel)
            else:
                prefix = module_names[id(info.module)]
                from_flat.append((f"{prefix}.{info.param_name}" if prefix else info.param_name, int(numel), flat.requires_grad))
    entries = [(name, parameter_numel(param, unsharded.get(id(param))), param.requires_grad)
               for name, param in model.named_parameters() if id(param) not in flat_ids]
    return entries + from_flat, bool(flat_ids)


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
    entries, fsdp1 = _named_counts(model)
    for name, numel, requires_grad in entries:
        group = groups[parameter_group(name, prefixes)]
        group.total += numel
        total += numel
        if requires_grad:
            group.trainable += numel
            trainable += numel
    peft_type = None
    if hasattr(model, "get_nb_trainable_parameters") and hasattr(model, "peft_config"):
        if not fsdp1:  # (under FSDP1 peft would count this rank's shard; the same rule was applied above instead)
            trainable, total = model.get_nb_trainable_parameters()  # peft's own figures are the reference
        config = model.peft_config.get(getattr(model, "active_adapter", "default"))
        peft_type = str(getattr(config, "peft_type", "") or "").replace("PeftType.", "") or None
    adapter_bytes = adapter_size_bytes(adapter_dir) if adapter_dir is not None else None
    return ParameterCount(trainable=trainable, total=total, groups=groups, adapter_bytes=adapter_bytes, peft_type=peft_type)
