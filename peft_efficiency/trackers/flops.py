"""A PEFT-aware estimate of training FLOPs, and model FLOPs utilization (MFU) where the device's peak is known.

Formula (per token that passes through the layers, multiply-add = 2 FLOPs):

    forward   F = 2 * N_matmul + 4 * L * s * d          (weights of every Linear/Conv1D, trainable or frozen;
                                                          attention scores and weighted sum over s positions)
    backward  B = F + 2 * N_matmul_trainable             (gradients w.r.t. activations through the whole network,
                                                          plus gradients w.r.t. trainable weights only)
    training  = tokens_effective * (F + B) = tokens_effective * (2 F + 2 N_matmul_trainable)

For full fine-tuning this is the familiar 6 N per token (plus attention). For LoRA/IA3/BitFit it is about
4 N + 2 N_trainable: frozen weights still need their forward and their activation gradients. Prompt tuning and
p-tuning add `num_virtual_tokens` real positions to every sample (tokens_effective = tokens + samples * v and
s grows by v); prefix tuning adds v key/value positions only (s grows by v in the attention term).
Assumptions: embeddings are lookups (no FLOPs); s is the mean non-padding length of the training samples;
activation gradients are assumed to flow down to the input (true for adapters and prompts, an overestimate for
methods that train only the top layers); gradient-checkpointing recomputation is not counted (useful FLOPs only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

FORMULA = "tokens_eff * (2*(2*N_matmul + 4*L*s*d) + 2*N_matmul_trainable); see peft_efficiency/trackers/flops.py"

# Dense peak FLOP/s per device: (16-bit tensor-core, 32-bit) from vendor data sheets.
DEVICE_PEAK_FLOPS: dict[str, tuple[float, float]] = {
    "H200": (989e12, 67e12),
    "H100 SXM": (989e12, 67e12),
    "H100 80GB HBM3": (989e12, 67e12),
    "H100 PCIe": (756e12, 51e12),
    "H100": (989e12, 67e12),
    "A100": (312e12, 19.5e12),
    "A10G": (125e12, 31.2e12),
    "L40S": (362e12, 91.6e12),
    "L4": (121e12, 30.3e12),
    "V100": (125e12, 15.7e12),
    "T4": (65e12, 8.1e12),
}


@dataclass
class MatmulWeights:
    """Weights that take part in matrix multiplications, all and trainable."""

    total: int
    trainable: int


def matmul_weights(model: torch.nn.Module) -> MatmulWeights:
    """Count Linear / transformers Conv1D weights (in*out each, also for 4-bit and ZeRO-3 layers).

    peft's adapter wrappers are not counted themselves (their base layer and adapter Linears are). The p-tuning
    prompt encoder runs once per batch on the virtual tokens, not per token, and is left out.
    """
    total = trainable = 0
    for name, module in model.named_modules():
        segments = name.split(".")
        # the p-tuning encoder; peft's frozen original of a modules_to_save copy (only the copy runs)
        if "prompt_encoder" in segments or "original_module" in segments:
            continue
        weight = getattr(module, "weight", None)
        if weight is None:
            continue
        if isinstance(module, torch.nn.Linear):  # also bitsandbytes' 4/8-bit layers; not peft's wrappers
            count = int(module.in_features) * int(module.out_features)
        elif type(module).__name__ == "Conv1D" and hasattr(module, "nf"):
            count = int(weight.shape[0]) * int(module.nf) if weight.numel() else int(getattr(weight, "ds_numel", 0))
        else:
            continue
        total += count
        if weight.requires_grad:
            trainable += count
    return MatmulWeights(total=total, trainable=trainable)


def _config_value(config: Any, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def model_shape(model: torch.nn.Module) -> tuple[int | None, int | None]:
    """(layers, hidden size) from the model's config, when it has one."""
    config = getattr(model, "config", None)
    if config is None and hasattr(model, "get_base_model"):
        config = getattr(model.get_base_model(), "config", None)
    if config is not None and hasattr(config, "get_text_config"):
        config = config.get_text_config()
    return _config_value(config, "num_hidden_layers", "n_layer", "num_layers"), _config_value(config, "hidden_size", "n_embd", "d_model")


def virtual_tokens(model: torch.nn.Module) -> tuple[int, bool]:
    """(number of virtual tokens, whether they run through the layers) of a prompt-learning PEFT model."""
    configs = getattr(model, "peft_config", None)
    if not isinstance(configs, dict):
        return 0, False
    config = configs.get(getattr(model, "active_adapter", "default"))
    if config is None or not getattr(config, "is_prompt_learning", False):
        return 0, False
    v = int(getattr(config, "num_virtual_tokens", 0) or 0)
    is_prefix = "PREFIX" in str(getattr(config, "peft_type", "")).upper()
    return v, not is_prefix


@dataclass
class FlopsProfile:
    """What the estimate needs from a model, read once at train begin (the structure does not change)."""

    weights: MatmulWeights
    layers: int | None
    hidden: int | None
    virtual_tokens: int
    virtual_through_layers: bool


def flops_profile(model: torch.nn.Module) -> FlopsProfile:
    layers, hidden = model_shape(model)
    v, through_layers = virtual_tokens(model)
    return FlopsProfile(matmul_weights(model), layers, hidden, v, through_layers)


def estimate_training_flops(profile: FlopsProfile, samples: int, tokens: int) -> dict[str, Any]:
    """Training FLOPs for `samples` samples holding `tokens` non-padding tokens (see module docstring)."""
    weights, layers, hidden, v = profile.weights, profile.layers, profile.hidden, profile.virtual_tokens
    mean_length = tokens / samples if samples else 0.0
    positions = mean_length + v
    tokens_effective = tokens + (samples * v if profile.virtual_through_layers else 0)
    attention = 4.0 * layers * positions * hidden if layers and hidden else 0.0
    forward_per_token = 2.0 * weights.total + attention
    flops = tokens_effective * (2.0 * forward_per_token + 2.0 * weights.trainable)
    return {
        "flops": flops,
        "formula": FORMULA,
        "forward_flops_per_token": forward_per_token,
        "matmul_weights": weights.total,
        "matmul_weights_trainable": weights.trainable,
        "virtual_tokens": v,
        "tokens_effective": tokens_effective,
        "attention_counted": bool(attention),
    }


def device_peak_flops_per_second(device_name: str | None, half_precision: bool) -> float | None:
    """The device's dense peak FLOP/s for the precision in use, or None when unknown (e.g. CPUs)."""
    if not device_name:
        return None
    for key, (half, single) in DEVICE_PEAK_FLOPS.items():
        if key.lower() in device_name.lower():
            return half if half_precision else single
    return None
