"""Find the parts of a transformers model that the freezing methods select: embeddings, the layer stack, the head."""

from __future__ import annotations

from torch import nn

from peft_efficiency.methods.registry import MethodError


def base_model_prefix(model: nn.Module) -> str:
    """Attribute name of the backbone inside a task model (`bert`, `roberta`, `transformer`...), or '' if none."""
    prefix = getattr(model, "base_model_prefix", "") or ""
    return prefix if prefix and isinstance(getattr(model, prefix, None), nn.Module) else ""


def head_parameter_names(model: nn.Module) -> list[str]:
    """Parameters outside the backbone: the task head (classifier, qa_outputs, score; GPT-2's lm_head is tied)."""
    prefix = base_model_prefix(model)
    if not prefix:
        return []
    return [name for name, _ in model.named_parameters() if not name.startswith(prefix + ".")]


def find_layer_stack(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The repeated transformer blocks: the `nn.ModuleList` of same-type blocks holding the most parameters."""
    best: tuple[str, nn.ModuleList, int] | None = None
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        if len({type(child) for child in module}) != 1:
            continue
        size = sum(p.numel() for p in module.parameters())
        if size and (best is None or size > best[2]):
            best = (name, module, size)
    if best is None:
        raise MethodError(
            f"{type(model).__name__} has no stack of transformer layers (an nn.ModuleList of blocks); "
            "encoder_only and top_k_layers need one: use full, bitfit or a peft method for this model"
        )
    return best[0], best[1]


def embedding_parameter_names(model: nn.Module) -> list[str]:
    """Parameters of the input embeddings: the backbone's `embeddings` module (BERT family, incl. its LayerNorm),
    else every `nn.Embedding` outside the layer stack (GPT-2 `wte`/`wpe`, Llama `embed_tokens`)."""
    prefix = base_model_prefix(model)
    backbone = getattr(model, prefix) if prefix else model
    embeddings = getattr(backbone, "embeddings", None)
    if isinstance(embeddings, nn.Module):
        lead = f"{prefix}.embeddings." if prefix else "embeddings."
        return [name for name, _ in model.named_parameters() if name.startswith(lead)]
    stack_name = ""
    try:
        stack_name = find_layer_stack(model)[0]
    except MethodError:
        pass
    names: list[str] = []
    for mod_name, module in model.named_modules():
        if isinstance(module, nn.Embedding) and not (stack_name and mod_name.startswith(stack_name + ".")):
            names += [f"{mod_name}.{p}" for p, _ in module.named_parameters()]
    present = {name for name, _ in model.named_parameters()}  # tied weights appear once, under their first name
    names = [name for name in names if name in present]
    if not names:
        raise MethodError(
            f"{type(model).__name__} exposes no input embeddings (no `embeddings` module and no nn.Embedding); "
            "embeddings_only needs them: use full, bitfit or a peft method for this model"
        )
    return names


def set_trainable(model: nn.Module, names: set[str]) -> None:
    """Make exactly the parameters named in `names` trainable and freeze the rest."""
    for name, param in model.named_parameters():
        param.requires_grad_(name in names)
