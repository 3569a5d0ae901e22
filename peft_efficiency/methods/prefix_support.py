"""Can peft's prefix tuning run on this model with this transformers version? Make it run where it can.

peft feeds the learned prefix to the model as `past_key_values`, and for the task types other than causal and
seq2seq LMs it first checks that the model's forward (or its backbone's) takes that argument. transformers 5.24
renamed the argument of the BERT-style encoders (BERT, RoBERTa, ELECTRA...) to `cache`, keeping a shim that maps
`past_key_values=` to `cache=` until 5.40, so the layers still take the prefix, but peft 0.21's signature check
refuses the model. `bridge_renamed_cache` gives such a backbone's forward the old name: the call goes through
unchanged (logits identical to 5.23's, bit for bit, on a tiny BERT with padding). A model that takes neither
(DistilBERT) gets one message before any data is loaded or step is run.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from peft_efficiency.methods.registry import MethodUnavailableError

KNOWN_GOOD_TRANSFORMERS = ("5.23.0 and 5.25.0 (requirements/lock.txt before and after the rename) and 4.53.3 (the "
                           "floors), the versions tested")
BRIDGED_ATTRIBUTE = "_peft_efficiency_cache_bridge"  # on a backbone whose forward was given `past_key_values`


def _parameters(forward: Any) -> dict[str, inspect.Parameter] | None:
    try:
        return dict(inspect.signature(forward).parameters)
    except (TypeError, ValueError):
        return None  # cannot tell


def _takes_past_key_values(forward: Any) -> bool:
    parameters = _parameters(forward)
    return parameters is None or "past_key_values" in parameters  # cannot tell: let peft decide


def _takes_renamed_cache(forward: Any) -> bool:
    parameters = _parameters(forward)
    return parameters is not None and "cache" in parameters and "past_key_values" not in parameters


# peft hands the prefix of a causal or seq2seq LM through **kwargs unchecked; for the other task types it requires
# `past_key_values` in the forward signature of the model or of its backbone.
UNCHECKED_TASK_TYPES = ("CAUSAL_LM", "SEQ_2_SEQ_LM")


def _backbone(model: Any) -> Any:
    backbone = getattr(model, getattr(model, "base_model_prefix", "") or "", None)
    return backbone if backbone is not None and backbone is not model else None


def model_accepts_prefix(model: Any) -> bool:
    """True when `model.forward` or its backbone's forward takes `past_key_values` (peft's own test)."""
    if _takes_past_key_values(model.forward):
        return True
    backbone = _backbone(model)
    return backbone is not None and _takes_past_key_values(backbone.forward)


def bridge_renamed_cache(model: Any) -> bool:
    """Give the backbone's forward a `past_key_values` argument passed on as `cache` (transformers >= 5.24 encoders);
    True when a bridge is in place. Nothing changes where the model or its backbone takes `past_key_values`."""
    backbone = _backbone(model)
    if model_accepts_prefix(model) or backbone is None or not _takes_renamed_cache(backbone.forward):
        return bool(backbone is not None and getattr(backbone, BRIDGED_ATTRIBUTE, False))
    backbone.forward = _forward_taking_past_key_values(backbone.forward)
    setattr(backbone, BRIDGED_ATTRIBUTE, True)
    return True


def _forward_taking_past_key_values(forward: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(forward)

    def bridged(*args: Any, past_key_values: Any = None, **kwargs: Any) -> Any:
        if past_key_values is not None:
            kwargs["cache"] = past_key_values
        return forward(*args, **kwargs)

    old = inspect.Parameter("past_key_values", inspect.Parameter.KEYWORD_ONLY, default=None)
    listed = list(signature.parameters.values())
    plain = [p for p in listed if p.kind != inspect.Parameter.VAR_KEYWORD]
    bridged.__signature__ = signature.replace(parameters=plain + [old] + [p for p in listed if p not in plain])  # type: ignore[attr-defined]
    bridged.__doc__ = forward.__doc__
    return bridged


def model_type_accepts_prefix(model_type: str) -> bool:
    """Whether prefix tuning can run on the backbone class of a transformers `model_type`, bridged where needed
    (no weights are built)."""
    from transformers import AutoConfig, AutoModel

    try:
        backbone_cls = AutoModel._model_mapping[type(AutoConfig.for_model(model_type))]
    except (KeyError, ValueError):
        return True  # unknown to this transformers: the model itself is checked when it is prepared
    return _takes_past_key_values(backbone_cls.forward) or _takes_renamed_cache(backbone_cls.forward)


def unsupported_message(model_name: str) -> str:
    import transformers

    return (
        f"prefix tuning cannot run on {model_name} with transformers {transformers.__version__}: the model takes "
        "no `past_key_values` (nor `cache`, their name since transformers 5.24), which peft's prefix tuning needs "
        f"to feed the prefix to every layer. Known to work: BERT-style encoders with transformers "
        f"{KNOWN_GOOD_TRANSFORMERS}. Fix: choose ptuning or prompt tuning, which need no past key/values, or a "
        "model family that takes them"
    )


def check_prefix_support(model_type: str, task_type: str) -> None:
    """Raise `MethodUnavailableError` when prefix tuning cannot run on `model_type` for `task_type` here."""
    if task_type not in UNCHECKED_TASK_TYPES and not model_type_accepts_prefix(model_type):
        raise MethodUnavailableError(unsupported_message(f"{model_type} models"))


def check_model_accepts_prefix(model: Any, task_type: str) -> None:
    """Bridge a renamed `cache` argument, then raise `MethodUnavailableError` when prefix tuning still cannot run on
    this model instance for `task_type`."""
    if task_type in UNCHECKED_TASK_TYPES:
        return
    bridge_renamed_cache(model)
    if not model_accepts_prefix(model):
        raise MethodUnavailableError(unsupported_message(type(model).__name__))
