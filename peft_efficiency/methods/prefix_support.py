"""Can peft's prefix tuning run on this model with this transformers version?

peft feeds the learned prefix to the model as `past_key_values`, so the model's forward (or its backbone's) must
take that argument. transformers 5.24 removed it from the BERT-style encoders (BERT, RoBERTa, ELECTRA...), where
peft 0.21 then fails at the first forward pass. This module says so before any data is loaded or step is run.
"""

from __future__ import annotations

import inspect
from typing import Any

from peft_efficiency.methods.registry import MethodUnavailableError

KNOWN_GOOD_TRANSFORMERS = "4.46 to 5.23 (tested: 5.23.0, the version in requirements/lock.txt)"


def _takes_past_key_values(forward: Any) -> bool:
    try:
        return "past_key_values" in inspect.signature(forward).parameters
    except (TypeError, ValueError):
        return True  # cannot tell: let peft decide


# peft hands the prefix of a causal or seq2seq LM through **kwargs unchecked; for the other task types it requires
# `past_key_values` in the forward signature of the model or of its backbone.
UNCHECKED_TASK_TYPES = ("CAUSAL_LM", "SEQ_2_SEQ_LM")


def model_accepts_prefix(model: Any) -> bool:
    """True when `model.forward` or its backbone's forward takes `past_key_values` (peft's own test)."""
    if _takes_past_key_values(model.forward):
        return True
    backbone = getattr(model, getattr(model, "base_model_prefix", "") or "", None)
    return backbone is not None and backbone is not model and _takes_past_key_values(backbone.forward)


def model_type_accepts_prefix(model_type: str) -> bool:
    """`model_accepts_prefix` for the backbone class of a transformers `model_type` (no weights are built)."""
    from transformers import AutoConfig, AutoModel

    try:
        backbone_cls = AutoModel._model_mapping[type(AutoConfig.for_model(model_type))]
    except (KeyError, ValueError):
        return True  # unknown to this transformers: the model itself is checked when it is prepared
    return _takes_past_key_values(backbone_cls.forward)


def unsupported_message(model_name: str) -> str:
    import transformers

    return (
        f"prefix tuning cannot run on {model_name} with transformers {transformers.__version__}: this version's "
        "model takes no `past_key_values`, which peft's prefix tuning needs (transformers 5.24 removed them from "
        f"BERT-style encoders). Known to work: transformers {KNOWN_GOOD_TRANSFORMERS}. Fix: "
        "pip install 'transformers<5.24' (or `make setup`, which installs the lock), or choose ptuning or prompt "
        "tuning, which need no past key/values"
    )


def check_prefix_support(model_type: str, task_type: str) -> None:
    """Raise `MethodUnavailableError` when prefix tuning cannot run on `model_type` for `task_type` here."""
    if task_type not in UNCHECKED_TASK_TYPES and not model_type_accepts_prefix(model_type):
        raise MethodUnavailableError(unsupported_message(f"{model_type} models"))


def check_model_accepts_prefix(model: Any, task_type: str) -> None:
    """Raise `MethodUnavailableError` when prefix tuning cannot run on this model instance for `task_type`."""
    if task_type not in UNCHECKED_TASK_TYPES and not model_accepts_prefix(model):
        raise MethodUnavailableError(unsupported_message(type(model).__name__))
