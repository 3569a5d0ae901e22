"""Methods that train a subset of the model's own weights: full, bitfit, embeddings_only, encoder_only, top_k_layers.

The task head (parameters outside the backbone, e.g. a freshly initialised classifier) is trained too unless
`train_head=False`, as seed 002 and the BitFit paper do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from peft_efficiency.methods.anatomy import (
    embedding_parameter_names,
    find_layer_stack,
    head_parameter_names,
    set_trainable,
)
from peft_efficiency.methods.registry import MethodError, register_method


@dataclass
class FullOptions:
    """Full fine-tuning has no options."""


@dataclass
class HeadOptions:
    train_head: bool = field(default=True, metadata={"help": "Also train the task head (parameters outside the backbone)."})


@dataclass
class TopKOptions:
    k: int = field(default=2, metadata={"help": "Number of top transformer layers to train (Houlsby et al.'s top-k)."})
    train_head: bool = field(default=True, metadata={"help": "Also train the task head."})

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")


def _with_head(model: nn.Module, names: list[str], train_head: bool) -> set[str]:
    return set(names) | (set(head_parameter_names(model)) if train_head else set())


@register_method("full", options=FullOptions, summary="train every weight of the model")
def prepare_full(model: nn.Module, options: FullOptions, task_type: str) -> nn.Module:
    for param in model.parameters():
        param.requires_grad_(True)
    return model


@register_method("bitfit", options=HeadOptions, summary="train only the bias terms (Ben Zaken et al. 2022), plus the head")
def prepare_bitfit(model: nn.Module, options: HeadOptions, task_type: str) -> nn.Module:
    biases = [name for name, _ in model.named_parameters() if name.endswith("bias")]
    if not biases:
        raise MethodError(f"{type(model).__name__} has no bias parameters, so bitfit would train nothing; pick another method")
    set_trainable(model, _with_head(model, biases, options.train_head))
    return model


@register_method("embeddings_only", options=HeadOptions, summary="train only the input embeddings, plus the head")
def prepare_embeddings_only(model: nn.Module, options: HeadOptions, task_type: str) -> nn.Module:
    set_trainable(model, _with_head(model, embedding_parameter_names(model), options.train_head))
    return model


@register_method("encoder_only", options=HeadOptions, summary="train the transformer layers, freeze the embeddings")
def prepare_encoder_only(model: nn.Module, options: HeadOptions, task_type: str) -> nn.Module:
    stack_name, _ = find_layer_stack(model)
    names = [name for name, _ in model.named_parameters() if name.startswith(stack_name + ".")]
    set_trainable(model, _with_head(model, names, options.train_head))
    return model


@register_method("top_k_layers", options=TopKOptions, summary="train the top k transformer layers, plus the head")
def prepare_top_k_layers(model: nn.Module, options: TopKOptions, task_type: str) -> nn.Module:
    stack_name, stack = find_layer_stack(model)
    if options.k > len(stack):
        raise MethodError(f"top_k_layers: k={options.k} but {type(model).__name__} has only {len(stack)} layers; use k <= {len(stack)}")
    top = {f"{stack_name}.{i}." for i in range(len(stack) - options.k, len(stack))}
    names = [name for name, _ in model.named_parameters() if any(name.startswith(t) for t in top)]
    set_trainable(model, _with_head(model, names, options.train_head))
    return model
