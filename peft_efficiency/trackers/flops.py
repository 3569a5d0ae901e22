"""A PEFT-aware estimate of training FLOPs, and model FLOPs utilization (MFU) where the device's peak is known.

Formula (multiply-add = 2 FLOPs; the matmuls torch's FlopCounterMode counts: Linears and attention):

    FLOPs = 2 * (T + R*v_q) * (W_tok + G_tok)                  Linears on every token position, forward + backward
          + 2 * R * (W_row + G_row)                            Linears that read one token per row (pooler, classifier)
          + 2 * d * (2*L + M) * sum_i (s_i + v_q) * (s_i + v_k) attention: Q K^T and A V over each sequence
          + 2 * P * (W_pass + G_pass)                          once per forward pass (LoHa's delta weights)
          + 2 * v * R_or_P * (W_virt + G_virt)                 prompt encoder on the virtual tokens (per row R for
                                                               prefix tuning, per forward pass P for p-tuning)

From the model, read once at train begin (`peft_efficiency.trackers.matmuls`):
  W_tok, W_row  in*out summed over the Linears run on every token / once per row (frozen and trainable alike);
  G_tok, G_row  their backward: in*out for each trained weight (weight gradient) plus in*out for each Linear whose
                input carries a gradient (activation gradient: only above the lowest trainable parameter);
  L, d          attention layers and width (heads * head size); M the attention matmuls run backward, summed
                over layers: 4 per layer above the lowest trainable parameter (both operands of Q K^T and A V are
                activations), fewer in that layer, none below;
  v_q, v_k      virtual positions per row: prompt tuning and p-tuning add v to queries and keys (v_q = v_k = v),
                prefix tuning adds v to keys only (v_q = 0, v_k = v);
  W_pass, G_pass, W_virt, G_virt  the same, for the per-pass and prompt-encoder matmuls.
From the batches (`peft_efficiency.trackers.tokens.BatchCounts`): P forward passes, R rows, T token positions,
and a sum over the sequences i of length s_i. Two figures, which differ in what they count:
  flops           T = non-padding tokens, s_i = each sequence's non-padding length; a packed row's documents are
                  separate sequences, so packing costs sum_i s_i^2, not (sum_i s_i)^2. The work the training
                  needed: compare runs with it.
  flops_computed  T = every position of every row, padding included, s_i = the row's width (or each sequence's
                  length where the attention kernel is varlen, i.e. flash attention). The model FLOPs of what
                  ran: MFU (in PaLM's sense: no recomputation) uses it. A fused attention kernel (flash attention; SDPA on CUDA, which runs
                  the flash or memory-efficient kernel) recomputes Q K^T in its backward and computes dQ, dK
                  and dV together: 5 matmuls in each layer the backward reaches, as FlopCounterMode counts them,
                  where `flops` counts the M needed.
Full fine-tuning gives the familiar 6 N per token plus attention; LoRA/IA3 about 4 N + 2 N_trainable.
Assumptions: embeddings are lookups (no FLOPs); attention computes its full score matrix (causal masking saves
nothing in eager/SDPA kernels); elementwise work (norms, softmax, optimizer) is left out, as FlopCounterMode
does. Gradient checkpointing (transformers' `gradient_checkpointing_enable()`) reruns forward work of the
checkpointed layers the backward reaches: `flops_recompute` = 2 * T * (in*out of the Linears rerun) + 4 * d *
(layers rerun) * sum_i s_i^2 (over the positions of flops_computed), the Linears rerun as observed on the first
step (`peft_efficiency.trackers.recompute`; before that, every Linear of the layers the backward reaches), and
`flops_hardware` = flops_computed + flops_recompute, the base of HFU (hardware FLOPs utilization).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from peft_efficiency.trackers.matmuls import MatmulPlan, attention_width, matmul_plan
from peft_efficiency.trackers.tokens import BatchCounts

FORMULA = ("2*(T + R*v_q)*(W_tok + G_tok) + 2*R*(W_row + G_row) + 2*d*(2*L + M)*sum_i (s_i + v_q)*(s_i + v_k) "
           "+ 2*P*(W_pass + G_pass) + 2*v*R_or_P*(W_virt + G_virt); see peft_efficiency/trackers/flops.py")
TOKENS_COUNTED = {
    "flops": "non-padding tokens (plus virtual tokens); attention over each sequence's own length (each document of a packed row)",
    "flops_computed": ("every position of every row, padding included; attention over each row's width "
                       "(over each sequence for varlen kernels)"),
}

# A fused attention backward: Q K^T recomputed, then dA, dV, dQ, dK (torch's FlopCounterMode counts these five).
FUSED_BACKWARD_MATMULS = 5

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


def _base_config(model: torch.nn.Module) -> Any:
    config = getattr(model, "config", None)
    if config is None and hasattr(model, "get_base_model"):
        config = getattr(model.get_base_model(), "config", None)
    if config is not None and hasattr(config, "get_text_config"):
        config = config.get_text_config()
    return config


def _config_value(config: Any, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def model_shape(model: torch.nn.Module) -> tuple[int | None, int | None]:
    """(layers, hidden size) from the model's config, when it has one."""
    config = _base_config(model)
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


def matmul_weights(model: torch.nn.Module) -> MatmulWeights:
    """in*out of every Linear / transformers Conv1D (also 4-bit and ZeRO-3 layers), all and trainable.

    peft's adapter wrappers are not counted themselves (their base layer and adapter Linears are), nor the
    frozen original of a modules_to_save copy, nor the p-tuning prompt encoder (run once per batch).
    """
    v, through_layers = virtual_tokens(model)
    plan = matmul_plan(model, model_shape(model)[0], prefix_tuning=bool(v) and not through_layers)
    return MatmulWeights(total=plan.total, trainable=plan.trainable)


@dataclass
class FlopsProfile:
    """What the estimate needs from a model, read once at train begin (the structure does not change)."""

    weights: MatmulWeights
    layers: int | None
    hidden: int | None
    virtual_tokens: int
    virtual_through_layers: bool
    plan: MatmulPlan | None = None
    attention_width: int | None = None
    varlen_attention: bool = False
    fused_attention: bool = False  # the backward recomputes the scores (see the module docstring)
    gradient_checkpointing: bool = False  # checkpointed layers rerun their forward in the backward
    recomputed: tuple[int, int] | None = None  # (in*out per position, layers) rerun, as observed on the first step
    output_head: int = 0  # in*out of the output embeddings (a causal LM's head runs once per row in a prefill)


def flops_profile(model: torch.nn.Module) -> FlopsProfile:
    layers, hidden = model_shape(model)
    v, through_layers = virtual_tokens(model)
    plan = matmul_plan(model, layers, prefix_tuning=bool(v) and not through_layers)
    config = _base_config(model)
    implementation = str(getattr(config, "_attn_implementation", None) or "")
    return FlopsProfile(weights=MatmulWeights(plan.total, plan.trainable), layers=plan.layers or layers, hidden=hidden,
                        virtual_tokens=v, virtual_through_layers=through_layers, plan=plan,
                        attention_width=attention_width(config), varlen_attention="flash" in implementation,
                        fused_attention=uses_fused_attention(model, implementation),
                        gradient_checkpointing=is_gradient_checkpointing(model), output_head=output_head_size(model))


def is_gradient_checkpointing(model: torch.nn.Module) -> bool:
    """Whether transformers' gradient checkpointing is on (also under a peft wrapper)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):  # the first is transformers >= 5.23's name
        if hasattr(type(base), name) or name in vars(base):
            return bool(getattr(base, name))
    return False


def output_head_size(model: torch.nn.Module) -> int:
    """in*out of the model's output embeddings (0 when it has none, or they are not a Linear)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    getter = getattr(base, "get_output_embeddings", None)
    head = getter() if callable(getter) else None
    head = getattr(head, "base_layer", head)  # an adapter on the head: its base Linear
    if isinstance(head, torch.nn.Linear):
        return int(head.in_features) * int(head.out_features)
    return 0


def uses_fused_attention(model: torch.nn.Module, implementation: str) -> bool:
    """Whether attention runs in a fused kernel whose backward recomputes the scores.

    Flash attention always does; SDPA does on CUDA (flash or memory-efficient kernel). SDPA on CPU with an attention
    mask runs the math path, plain matmuls, as eager does; without one (a causal model, no padding) it runs a CPU
    flash kernel whose recomputation is not counted here (FlopCounterMode counts that kernel not at all).
    """
    if "flash" in implementation:
        return True
    if implementation != "sdpa":
        return False
    try:
        return next(model.parameters()).device.type == "cuda"
    except (StopIteration, AttributeError, TypeError):
        return False


def _pairs(square_sum: float, length_sum: float, sequences: float, v_q: int, v_k: int) -> float:
    """sum_i (s_i + v_q) * (s_i + v_k), from sum s_i^2, sum s_i and the number of sequences."""
    return square_sum + (v_q + v_k) * length_sum + sequences * v_q * v_k


def estimate_training_flops(profile: FlopsProfile, samples: int, tokens: int, counts: BatchCounts | None = None) -> dict[str, Any]:
    """Training FLOPs of the batches counted (formula in the module docstring).

    Args:
        profile: from `flops_profile(model)`.
        samples, tokens: sequences and non-padding tokens; used alone (without `counts`), every sequence is taken
            to be one unpadded row of the mean length, and the once-per-forward-pass terms are left out.
        counts: the batch counter's full counts (rows, padded positions, sums of squared lengths); when given,
            they supersede `samples` and `tokens`.
    """
    if counts is None:
        counts = BatchCounts.uniform(samples, tokens)
    plan = profile.plan
    if plan is None:
        raise ValueError("profile has no matmul plan: build it with flops_profile(model)")
    v = profile.virtual_tokens
    v_q = v if profile.virtual_through_layers else 0
    v_k = v
    width, layers = profile.attention_width, plan.layers
    computed_backward = (FUSED_BACKWARD_MATMULS * plan.attention_backward_layers if profile.fused_attention
                         else plan.attention_backward_matmuls)

    def attention_cost(backward_matmuls: int) -> float:  # per query-key pair: 2 forward matmuls + the backward ones
        return 2.0 * width * (2 * layers + backward_matmuls) if width and layers else 0.0

    attention_factor = attention_cost(plan.attention_backward_matmuls)
    virtual_runs = counts.rows if v and not profile.virtual_through_layers else counts.batches
    fixed = (2.0 * counts.rows * (plan.row_forward + plan.row_backward) + 2.0 * counts.batches * (plan.batch_forward + plan.batch_backward)
             + 2.0 * v * virtual_runs * (plan.virtual_forward + plan.virtual_backward))
    token_cost = 2.0 * (plan.token_forward + plan.token_backward)

    def total(token_positions: float, pairs: float, factor: float = attention_factor) -> float:
        return (token_positions + counts.rows * v_q) * token_cost + fixed + factor * pairs

    sequence_pairs = _pairs(counts.sequence_square_sum, counts.tokens, counts.samples, v_q, v_k)
    flops = total(counts.tokens, sequence_pairs)
    row_pairs = sequence_pairs if profile.varlen_attention else _pairs(counts.row_square_sum, counts.positions, counts.rows, v_q, v_k)
    tokens_effective = counts.tokens + counts.rows * v_q
    forward = (2.0 * tokens_effective * plan.token_forward + 2.0 * counts.rows * plan.row_forward
               + 2.0 * counts.batches * plan.batch_forward + 2.0 * v * virtual_runs * plan.virtual_forward
               + (4.0 * width * layers * sequence_pairs if width and layers else 0.0))
    flops_computed = total(counts.positions, row_pairs, attention_cost(computed_backward))
    recompute = recompute_flops(profile, counts.positions + counts.rows * v_q, row_pairs) if profile.gradient_checkpointing else 0.0
    return {
        "flops": flops,
        "flops_computed": flops_computed,
        "flops_recompute": recompute,
        "flops_hardware": flops_computed + recompute,
        "gradient_checkpointing": profile.gradient_checkpointing,
        "flops_forward": forward,
        "tokens_counted": TOKENS_COUNTED,
        "formula": FORMULA,
        "forward_flops_per_token": forward / tokens_effective if tokens_effective else None,
        "matmul_weights": profile.weights.total,
        "matmul_weights_trainable": profile.weights.trainable,
        "virtual_tokens": v,
        "tokens_effective": tokens_effective,
        "sequences": counts.samples,
        "rows": counts.rows,
        "padded_positions": counts.positions - counts.tokens,
        "attention_counted": bool(attention_factor),
        "attention_backward_matmuls": plan.attention_backward_matmuls,
        "attention_backward_matmuls_computed": computed_backward,
    }


def recompute_flops(profile: FlopsProfile, positions: float, pairs: float) -> float:
    """The forward of the checkpointed layers that the backward reaches, rerun once per training forward."""
    plan = profile.plan
    if plan is None:
        return 0.0
    if profile.recomputed is not None:
        per_position, layers = profile.recomputed
    else:
        reached = range(plan.first_backward_layer, plan.layers)
        per_position, layers = sum(plan.layer_token_forward[i] for i in reached), len(reached)
    width = profile.attention_width or 0
    return 2.0 * positions * per_position + 4.0 * width * layers * pairs


def generation_flops(profile: FlopsProfile, body_positions: float, head_positions: float, attention_pairs: float) -> float | None:
    """Forward FLOPs of decoder-only generation with a KV cache (formula in `peft_efficiency.trackers.generation`);
    None where it does not hold (virtual tokens, unknown attention shape)."""
    plan = profile.plan
    if plan is None or profile.virtual_tokens or not profile.attention_width or not plan.layers:
        return None
    body = plan.token_forward - profile.output_head
    return (2.0 * body * body_positions + 2.0 * profile.output_head * head_positions
            + 4.0 * profile.attention_width * plan.layers * attention_pairs)


def device_peak_flops_per_second(device_name: str | None, half_precision: bool) -> float | None:
    """The device's dense peak FLOP/s for the precision in use, or None when unknown (e.g. CPUs)."""
    if not device_name:
        return None
    for key, (half, single) in DEVICE_PEAK_FLOPS.items():
        if key.lower() in device_name.lower():
            return half if half_precision else single
    return None
