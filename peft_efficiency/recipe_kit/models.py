"""Load the recipe's model and tokenizer: the real one (Hub id or `--model-path`), or a smoke-sized one from config."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from peft_efficiency.methods import model_load_kwargs
from peft_efficiency.model_names import model_label  # noqa: F401  (re-exported: recipes name their model with it)
from peft_efficiency.recipe_kit.config import RecipeConfig
from peft_efficiency.recipe_kit.smoke import smoke_config, smoke_tokenizer


class ModelLoadError(RuntimeError):
    """The real model could not be loaded (offline and not cached, bad --model-path)."""


def load_model_and_tokenizer(
    config: RecipeConfig,
    auto_cls: Any,
    *,
    smoke: bool,
    smoke_texts: Iterable[str] = (),
    model_path: str | None = None,
    scratch_dir: str | Path | None = None,
    **task_kwargs: Any,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The base model (before the method is applied) and its tokenizer.

    Args:
        config: the run's settings (model id, family, method).
        auto_cls: e.g. `AutoModelForSequenceClassification`.
        smoke: build a tiny model of `config.model_family` with a tokenizer trained on `smoke_texts`.
        model_path: a local model folder used instead of `config.model` (e.g. the all-MiniLM-L6-v2 package).
        scratch_dir: where a smoke model is saved and reloaded when the method loads weights specially (QLoRA).
        task_kwargs: passed to the config / from_pretrained (e.g. num_labels=2).
    """
    load_kwargs = model_load_kwargs(config.method, config.method_options)  # QLoRA on CPU stops here, clearly
    if smoke:
        tokenizer = smoke_tokenizer(smoke_texts, config.model_family)
        model_config = smoke_config(config.model_family, tokenizer, config.max_length, **task_kwargs)
        model = auto_cls.from_config(model_config)
        if load_kwargs:  # reload the tiny model through from_pretrained so the quantization really happens
            folder = Path(scratch_dir or ".") / "smoke_base_model"
            model.save_pretrained(folder)
            model = auto_cls.from_pretrained(folder, **load_kwargs)
        return model, tokenizer
    source = model_path or config.model
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = auto_cls.from_pretrained(source, **task_kwargs, **load_kwargs)
    except OSError as exc:
        raise ModelLoadError(
            f"cannot load model {source!r}: {str(exc).splitlines()[0]}. It must be in the local Hugging Face cache or "
            "reachable on the Hub; pass --model-path DIR for a local copy, or --smoke for the tiny offline model"
        ) from exc
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:  # GPT-2 has no pad token
        tokenizer.pad_token = tokenizer.eos_token
        model.config.pad_token_id = tokenizer.eos_token_id
    return model, tokenizer


def usable_length(model: Any, max_length: int) -> int:
    """Tokens per example that fit the model: `max_length`, less the virtual tokens prompt methods prepend, within
    the position table (RoBERTa's positions start after its padding index; a prefix takes the first positions)."""
    from peft_efficiency.methods import prefix_virtual_tokens, prepended_virtual_tokens

    config = model.config
    limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if limit and getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        limit -= (config.pad_token_id or 0) + 1
    if limit:
        limit -= prefix_virtual_tokens(model)
    length = min(max_length, limit) if limit else max_length
    return length - prepended_virtual_tokens(model)
