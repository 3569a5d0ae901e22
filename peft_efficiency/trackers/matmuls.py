"""Which matrix multiplications one training step runs, read once from the model's structure.

For every Linear (and transformers Conv1D) the FLOPs estimate needs its multiply-adds per input row (in * out),
whether it runs on every token or once per row (a pooler or sequence-classification head reading the first
token), whether its weight is trained (weight gradient: in * out more per row) and whether its input carries a
gradient (activation gradient: in * out more per row; only when a trainable parameter sits below it in the
network). For attention it needs how many of the four attention matmuls run backward: Q K^T and A V each have
two operands, and an operand's gradient is computed only when it depends on a trainable parameter.

Positions in the network are read from module names and registration order. The transformer layers are the
model's ModuleList whose length is the config's layer count (else its longest one); inside a layer, the
query/key/value projections (query, q_proj, c_attn, query_key_value, ...) read the layer's input and every other
module comes after them; modules outside the layers come before them (embeddings) or after them (final norm,
pooler, heads) in registration order. peft's prompt encoder feeds the input (prompt tuning, p-tuning) or the
keys and values of every layer (prefix tuning); transformers' `enable_input_require_grads()` (used with gradient
checkpointing and k-bit training) makes the input carry a gradient too. Known gaps: a second layer stack (an
encoder-decoder's decoder) counts as "after the layers"; the modules of a layer after its projections share one
position, so in the lowest trainable layer they all get activation gradients when a projection there is trained,
and none do when the lowest trained parameter is among them (exact for adapters on the projections, on the MLP,
or on all Linears).

Some matmuls run once per forward pass, whatever its size: peft's LoHa builds its delta weight from two low-rank
products (and recomputes them in backward), p-tuning's prompt encoder runs on one copy of the virtual tokens.
Prefix tuning's optional projection runs on the virtual tokens of every row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

PROJECTION_ROLES = {
    "query": "q", "q_proj": "q", "q": "q", "to_q": "q",
    "key": "k", "k_proj": "k", "k": "k", "to_k": "k",
    "value": "v", "v_proj": "v", "v": "v", "to_v": "v",
    "c_attn": "qkv", "qkv_proj": "qkv", "query_key_value": "qkv", "Wqkv": "qkv", "qkv": "qkv", "W_pack": "qkv",
}
FIRST_TOKEN_MODULES = ("pooler", "pre_classifier")  # read the first token of each row
FIRST_TOKEN_HEAD_CLASSES = ("ForSequenceClassification", "ForMultipleChoice")  # whose `classifier` reads it too
LOHA_FACTORS = (("hada_w1_a", "hada_w1_b"), ("hada_w2_a", "hada_w2_b"))
BEFORE = (-1, 0)


@dataclass
class MatmulPlan:
    """Multiply-adds of a forward and backward pass, per token position / row / pass, and the attention backward."""

    token_forward: int = 0  # per token position that runs through the layers
    token_backward: int = 0  # activation plus weight gradients, per token position
    row_forward: int = 0  # per row, for modules that read the first token only
    row_backward: int = 0
    batch_forward: int = 0  # per forward pass (LoHa's delta weights)
    batch_backward: int = 0
    virtual_forward: int = 0  # per virtual token, of the prompt encoder (per row for prefix tuning, else per pass)
    virtual_backward: int = 0
    attention_backward_matmuls: int = 0  # over all layers; the forward runs 2 per layer
    attention_backward_layers: int = 0  # layers whose attention runs backward at all (a fused kernel's backward: 5 matmuls)
    layers: int = 0
    total: int = 0  # in * out of every Linear, each once
    trainable: int = 0  # of those with a trained weight
    layer_token_forward: list[int] = field(default_factory=list)  # token_forward of the Linears inside each layer
    first_backward_layer: int = 0  # the lowest layer the backward reaches (layers: none does)


def _linear_size(module: torch.nn.Module) -> int | None:
    weight = getattr(module, "weight", None)
    if weight is None:
        return None
    if isinstance(module, torch.nn.Linear):  # also bitsandbytes' 4/8-bit layers; not peft's wrappers
        return int(module.in_features) * int(module.out_features)
    if type(module).__name__ == "Conv1D" and hasattr(module, "nf"):
        return int(weight.shape[0]) * int(module.nf) if weight.numel() else int(getattr(weight, "ds_numel", 0))
    return None


def _delta_linear_size(module: torch.nn.Module) -> int | None:
    """peft LoHa/LoKr layers apply their delta weight as a second full-size F.linear on every input row."""
    if not (hasattr(module, "hada_w1_a") or hasattr(module, "lokr_w1")) or not hasattr(module, "base_layer"):
        return None
    if not any(p.requires_grad for n, p in module.named_parameters() if not n.startswith("base_layer")):
        return None
    return _linear_size(module.base_layer)


def _loha_products(module: torch.nn.Module) -> int:
    """Multiply-adds of LoHa's w_a @ w_b products for the active trained adapters (one each way per forward)."""
    total = 0
    for first, second in LOHA_FACTORS:
        left, right = getattr(module, first, None), getattr(module, second, None)
        if not isinstance(left, torch.nn.ParameterDict) or not isinstance(right, torch.nn.ParameterDict):
            continue
        for key, a in left.items():
            b = right[key] if key in right else None
            if b is not None and a.dim() == 2 and b.dim() == 2 and a.requires_grad:
                total += int(a.shape[0]) * int(a.shape[1]) * int(b.shape[1])
    return total


def _layer_stack(model: torch.nn.Module, expected: int | None) -> tuple[str | None, int]:
    best: tuple[tuple[bool, int], str, int] | None = None
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) and "prompt_encoder" not in name.split("."):
            score = (len(module) == expected, len(module))
            if best is None or score > best[0]:
                best = (score, name, len(module))
    return (best[1], best[2]) if best else (None, 0)


class _Positions:
    """Orders modules along the forward pass: (-1, 0) before the layers, (i, 0) layer i's q/k/v projections,
    (i, 1) the rest of layer i, (L, k) after the layers in registration order."""

    def __init__(self, model: torch.nn.Module, expected_layers: int | None) -> None:
        self.stack, self.layers = _layer_stack(model, expected_layers)
        names = [name for name, _ in model.named_modules()]
        inside = [i for i, name in enumerate(names) if self._layer_part(name)[0] is not None]
        self.first_layer_module = inside[0] if inside else len(names)
        self.order = {name: i for i, name in enumerate(names)}

    def _layer_part(self, name: str) -> tuple[int | None, list[str]]:
        if self.stack is None or not name.startswith(self.stack + "."):
            return None, []
        rest = name[len(self.stack) + 1:].split(".")
        return (int(rest[0]), rest[1:]) if rest[0].isdigit() else (None, [])

    def role(self, name: str) -> str | None:
        """'q', 'k', 'v' or 'qkv' for a module in (or under) a layer's input projection."""
        return next((PROJECTION_ROLES[s] for s in self._layer_part(name)[1] if s in PROJECTION_ROLES), None)

    def of(self, name: str) -> tuple[int, int]:
        index, _ = self._layer_part(name)
        if index is not None:
            return (index, 0 if self.role(name) else 1)
        order = self.order.get(name, 0)
        return BEFORE if order < self.first_layer_module else (self.layers, order)


def _first_token_module(segments: list[str], model_class: str) -> bool:
    if any(s in FIRST_TOKEN_MODULES for s in segments):
        return True
    return "classifier" in segments and model_class.endswith(FIRST_TOKEN_HEAD_CLASSES)


def matmul_plan(model: torch.nn.Module, expected_layers: int | None, prefix_tuning: bool) -> MatmulPlan:
    """The Linears' forward and backward multiply-adds and the attention backward matmuls of `model`."""
    positions = _Positions(model, expected_layers)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    model_class = type(base).__name__
    plan = MatmulPlan(layers=positions.layers, layer_token_forward=[0] * positions.layers)

    # where trainable parameters sit: the earliest one decides which activations carry a gradient
    trainable_positions: list[tuple[int, int]] = []
    trained_roles: dict[int, set[str]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        segments = name.split(".")
        if "prompt_encoder" in segments:
            trainable_positions.append((0, 0) if prefix_tuning else BEFORE)
            continue
        module_name = name.rsplit(".", 1)[0]
        position = positions.of(module_name)
        trainable_positions.append(position)
        role = positions.role(module_name)
        if role is not None:
            trained_roles.setdefault(position[0], set()).add(role)
    if any(getattr(m, "_require_grads_hooks", None) or hasattr(m, "_require_grads_hook") for m in model.modules()):
        trainable_positions.append(BEFORE)  # enable_input_require_grads(): the embeddings' output carries a gradient
    first = min(trainable_positions, default=(positions.layers + 1, 0))
    plan.first_backward_layer = min(max(first[0], 0), positions.layers)

    for name, module in model.named_modules():
        segments = name.split(".")
        if "original_module" in segments:  # peft's unused original of a modules_to_save copy
            continue
        products = _loha_products(module)
        plan.batch_forward += products
        plan.batch_backward += 3 * products  # recompute the other factor's product, then both factors' gradients
        if "prompt_encoder" in segments:
            size = _linear_size(module)
            if size is not None:  # a trained embedding feeds the encoder: activation and weight gradients
                plan.virtual_forward += size
                plan.virtual_backward += size * (1 + int(module.weight.requires_grad))
            continue
        size, trained = _linear_size(module), False
        if size is not None:
            trained = bool(module.weight.requires_grad)
            plan.total += size
            plan.trainable += size if trained else 0
        else:
            size, trained = _delta_linear_size(module), True
            if size is None:
                continue
        # lora_B reads lora_A's output, which carries a gradient whenever lora_A is trained
        input_grad = positions.of(name) > first or ("lora_B" in segments and trained)
        backward = size * (int(input_grad) + int(trained))
        if _first_token_module(segments, model_class):
            plan.row_forward += size
            plan.row_backward += backward
        else:
            plan.token_forward += size
            plan.token_backward += backward
            layer = positions.of(name)[0]
            if 0 <= layer < positions.layers:
                plan.layer_token_forward[layer] += size

    for layer in range(positions.layers):
        if first < (layer, 0):
            plan.attention_backward_matmuls += 4
            plan.attention_backward_layers += 1
        elif first == (layer, 0):
            roles = trained_roles.get(layer, set())
            q = "q" in roles or "qkv" in roles
            k = "k" in roles or "qkv" in roles or prefix_tuning
            v = "v" in roles or "qkv" in roles or prefix_tuning
            plan.attention_backward_matmuls += int(q) + int(k) + int(q or k) + int(v)  # dQ, dK, dA, dV
            plan.attention_backward_layers += int(q or k or v)
    return plan


def attention_width(config: Any) -> int | None:
    """Heads times head size: the width of the attention score and weighted-sum matmuls."""
    def value(*names: str) -> int | None:
        return next((v for v in (getattr(config, n, None) for n in names) if isinstance(v, int)), None)

    hidden = value("hidden_size", "n_embd", "d_model")
    heads = value("num_attention_heads", "n_head", "num_heads")
    head_dim = value("head_dim", "d_kv") or (hidden // heads if hidden and heads else None)
    return heads * head_dim if heads and head_dim else hidden
