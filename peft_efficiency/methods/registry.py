"""The method registry: a fine-tuning method name -> how to prepare a model for it.

Each family module registers its methods where it defines them, with `@register_method(...)` on the function that
prepares a model; `peft_efficiency.methods` imports the family modules, so importing it fills the registry.

Example:
    >>> from peft_efficiency.methods import prepare_model
    >>> model = prepare_model(model, "lora", {"r": 16, "lora_alpha": 32})   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from peft_efficiency.versions import UnsupportedVersionError, require_version


class MethodError(ValueError):
    """A method name, option or model the user chose that cannot work; the message names the fix."""


class MethodUnavailableError(RuntimeError):
    """A method that cannot run on this machine (e.g. QLoRA without CUDA and bitsandbytes)."""


PrepareFn = Callable[[nn.Module, Any, str], nn.Module]


@dataclass(frozen=True)
class MethodSpec:
    """One registered method.

    Args:
        name: the method's name (`--method NAME`).
        summary: one line saying what it trains.
        options_cls: dataclass of the method's options; its defaults are the method's defaults.
        prepare: `prepare(model, options, task_type) -> model` freezing/wrapping the model for training.
        load_kwargs: `load_kwargs(options) -> dict` of extra `from_pretrained` arguments (QLoRA's 4-bit loading),
            or None when the model loads as usual.
        is_peft: whether `prepare` returns a peft `PeftModel`.
        requires: package -> versions the method needs beyond peft-efficiency's own floors (e.g. {"peft": ">=0.17"}),
            checked when the method is looked up, before any model or data is loaded.
    """

    name: str
    summary: str
    options_cls: type
    prepare: PrepareFn
    load_kwargs: Callable[[Any], dict[str, Any]] | None = None
    is_peft: bool = False
    requires: dict[str, str] = dataclasses.field(default_factory=dict)


_REGISTRY: dict[str, MethodSpec] = {}


def register_method(
    name: str,
    *,
    options: type,
    summary: str,
    is_peft: bool = False,
    load_kwargs: Callable[[Any], dict[str, Any]] | None = None,
    requires: dict[str, str] | None = None,
) -> Callable[[PrepareFn], PrepareFn]:
    """Decorator registering `prepare(model, options, task_type)` as the method `name`."""

    def decorator(prepare: PrepareFn) -> PrepareFn:
        if name in _REGISTRY:
            raise RuntimeError(f"method {name!r} is registered twice")
        if not dataclasses.is_dataclass(options):
            raise TypeError(f"method {name!r}: options must be a dataclass, got {options!r}")
        _REGISTRY[name] = MethodSpec(name, summary, options, prepare, load_kwargs, is_peft, dict(requires or {}))
        return prepare

    return decorator


def available_methods() -> list[str]:
    """Names of all registered methods, sorted."""
    return sorted(_REGISTRY)


def method_requirements(name: str) -> dict[str, str]:
    """Package -> versions the method `name` needs beyond peft-efficiency's floors ({} for most methods)."""
    return dict(_lookup(name).requires)


def _lookup(name: str) -> MethodSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise MethodError(f"unknown method {name!r}; valid methods: {', '.join(available_methods())}") from None


def get_method(name: str) -> MethodSpec:
    """The registered method `name`; an unknown name raises `MethodError` listing the valid ones, and a method that
    needs newer packages than those installed raises `MethodUnavailableError` naming package, found and needed."""
    spec = _lookup(name)
    for package, specifier in spec.requires.items():
        try:
            require_version(package, specifier, f"the {name} method")
        except UnsupportedVersionError as exc:
            raise MethodUnavailableError(f"{exc} (or choose another method)") from None
    return spec


def make_options(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """The options dataclass of method `name` with `overrides` applied; unknown keys raise `MethodError`."""
    spec = get_method(name)
    overrides = dict(overrides or {})
    fields = {f.name for f in dataclasses.fields(spec.options_cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise MethodError(
            f"method {name!r} has no option(s) {', '.join(unknown)}; its options are: {', '.join(sorted(fields)) or '(none)'}"
        )
    try:
        return spec.options_cls(**overrides)
    except (TypeError, ValueError) as exc:
        raise MethodError(f"method {name!r}: {exc}") from exc


def infer_task_type(model: nn.Module) -> str:
    """peft task type from the model class: SEQ_CLS, QUESTION_ANS, CAUSAL_LM, TOKEN_CLS or FEATURE_EXTRACTION."""
    cls_name = type(model).__name__
    for suffix, task in (
        ("ForSequenceClassification", "SEQ_CLS"),
        ("ForQuestionAnswering", "QUESTION_ANS"),
        ("ForCausalLM", "CAUSAL_LM"),
        ("LMHeadModel", "CAUSAL_LM"),
        ("ForTokenClassification", "TOKEN_CLS"),
    ):
        if cls_name.endswith(suffix):
            return task
    return "FEATURE_EXTRACTION"


def prepare_model(
    model: nn.Module,
    method: str,
    options: Any | dict[str, Any] | None = None,
    task_type: str | None = None,
) -> nn.Module:
    """Prepare `model` for training with `method`; returns the model to hand to the Trainer.

    Args:
        model: a transformers model (for QLoRA: loaded with `model_load_kwargs("qlora")`).
        method: a registered method name (see `available_methods()`).
        options: the method's options dataclass, or a dict of overrides on its defaults.
        task_type: peft task type; inferred from the model class when None.
    Example:
        >>> peft_model = prepare_model(BertForSequenceClassification(cfg), "bitfit")   # doctest: +SKIP
    """
    spec = get_method(method)
    if options is None or isinstance(options, dict):
        options = make_options(method, options)
    elif not isinstance(options, spec.options_cls):
        raise MethodError(f"method {method!r} takes {spec.options_cls.__name__} options, got {type(options).__name__}")
    return spec.prepare(model, options, task_type or infer_task_type(model))


def model_load_kwargs(method: str, options: Any | dict[str, Any] | None = None) -> dict[str, Any]:
    """Extra `from_pretrained(...)` arguments the method needs (QLoRA: 4-bit quantization); {} for most methods.

    Raises `MethodUnavailableError` when the method cannot run on this machine, before any model is loaded.
    """
    spec = get_method(method)
    if spec.load_kwargs is None:
        return {}
    if options is None or isinstance(options, dict):
        options = make_options(method, options)
    return spec.load_kwargs(options)
