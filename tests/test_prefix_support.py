"""Prefix tuning either runs (the prefix moves the logits; peft's own trainable count) or stops with one message."""

from __future__ import annotations

from importlib.metadata import version

import pytest
import torch
from packaging.version import Version
from peft import PrefixTuningConfig, TaskType, get_peft_model
from transformers import BertConfig, BertForSequenceClassification, DistilBertConfig, DistilBertForSequenceClassification

from peft_efficiency.methods import MethodUnavailableError, prepare_model
from peft_efficiency.methods.prefix_support import check_prefix_support
from recipe_helpers import load_recipe

ENCODERS_TAKE_PAST_KEY_VALUES = Version(version("transformers")) < Version("5.24")
TINY_BERT = dict(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                 max_position_embeddings=64)


def _assert_names_cause_versions_and_fix(message: str) -> None:
    assert "takes no `past_key_values`" in message
    assert f"transformers {version('transformers')}" in message
    assert "Known to work: transformers 4.46 to 5.23" in message
    assert "Fix: pip install 'transformers<5.24'" in message


def test_an_encoder_without_past_key_values_gets_one_message_before_peft_wraps_it():
    # DistilBERT never took past_key_values, on any transformers: the message path on every version.
    model = DistilBertForSequenceClassification(DistilBertConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2, hidden_dim=32))
    with pytest.raises(MethodUnavailableError) as info:
        prepare_model(model, "prefix", {"num_virtual_tokens": 4})
    assert str(info.value).startswith("prefix tuning cannot run on DistilBertForSequenceClassification")
    _assert_names_cause_versions_and_fix(str(info.value))
    assert not hasattr(model, "peft_config")  # nothing half-done to the user's model
    with pytest.raises(MethodUnavailableError, match="prefix tuning cannot run on distilbert models"):
        check_prefix_support("distilbert", "SEQ_CLS")
    check_prefix_support("distilbert", "CAUSAL_LM")  # peft passes a causal LM's prefix through **kwargs: no check


def test_prefix_on_bert_runs_on_this_transformers_or_says_why():
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(**TINY_BERT))
    if not ENCODERS_TAKE_PAST_KEY_VALUES:
        with pytest.raises(MethodUnavailableError) as info:
            prepare_model(model, "prefix", {"num_virtual_tokens": 4})
        _assert_names_cause_versions_and_fix(str(info.value))
        return
    prepared = prepare_model(model, "prefix", {"num_virtual_tokens": 4})
    reference = get_peft_model(BertForSequenceClassification(BertConfig(**TINY_BERT)),
                               PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=4))
    assert prepared.get_nb_trainable_parameters() == reference.get_nb_trainable_parameters()
    inputs = torch.randint(0, 50, (2, 9))
    prepared.eval()
    with torch.no_grad():
        before = prepared(input_ids=inputs).logits
        assert torch.equal(prepared(input_ids=inputs).logits, before)  # deterministic: any change is the prefix's
        weight = prepared.prompt_encoder["default"].embedding.weight
        weight.copy_(torch.randn_like(weight) * 3)
        after = prepared(input_ids=inputs).logits
    assert (after - before).abs().max().item() > 1e-6  # logits of an untrained head are small; any change counts


def test_recipe_says_why_before_loading_any_data(tmp_path, capsys):
    missing_data = tmp_path / "no-data-here"
    code = load_recipe("squad_bert").main(["--method", "prefix", "--smoke", "--data-dir", str(missing_data),
                                           "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    if ENCODERS_TAKE_PAST_KEY_VALUES:
        assert "prefix tuning" not in err and str(missing_data) in err  # the data is the first problem here
    else:
        assert err.startswith("error: prefix tuning cannot run on bert models")
        _assert_names_cause_versions_and_fix(err)
    assert not (tmp_path / "out" / "efficiency_report.json").exists()
