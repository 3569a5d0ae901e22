"""Prefix tuning runs on BERT before and after transformers 5.24 renamed `past_key_values` to `cache` (the prefix
moves the logits and trains; peft's own trainable count), and stops with one message where the model takes neither."""

from __future__ import annotations

from importlib.metadata import version

import pytest
import torch
from packaging.version import Version
from peft import PrefixTuningConfig, TaskType, get_peft_model
from transformers import BertConfig, BertForSequenceClassification, DistilBertConfig, DistilBertForSequenceClassification

from peft_efficiency.methods import MethodUnavailableError, prepare_model
from peft_efficiency.methods.prefix_support import (BRIDGED_ATTRIBUTE, bridge_renamed_cache, check_prefix_support,
                                                    model_accepts_prefix)
from recipe_helpers import load_recipe

ENCODERS_TAKE_PAST_KEY_VALUES = Version(version("transformers")) < Version("5.24")
TINY_BERT = dict(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                 max_position_embeddings=64)


def _assert_names_cause_versions_and_fix(message: str) -> None:
    assert "takes no `past_key_values` (nor `cache`" in message
    assert f"transformers {version('transformers')}" in message
    assert "Known to work: BERT-style encoders with transformers 5.23.0" in message
    assert "Fix: choose ptuning or prompt tuning" in message


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


def test_prefix_on_bert_runs_on_this_transformers():
    """On transformers < 5.24 BERT takes `past_key_values`; from 5.24 it takes `cache` and gets the bridge. Either way
    the prefix reaches every layer (it moves the logits and gets gradients) and the trainable count is peft's."""
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(**TINY_BERT))
    prepared = prepare_model(model, "prefix", {"num_virtual_tokens": 4})
    assert getattr(model.bert, BRIDGED_ATTRIBUTE, False) is not ENCODERS_TAKE_PAST_KEY_VALUES
    reference = BertForSequenceClassification(BertConfig(**TINY_BERT))
    bridge_renamed_cache(reference)  # peft refuses the bare model on >= 5.24
    reference = get_peft_model(reference, PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=4))
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
    prepared.train()
    prepared(input_ids=inputs, labels=torch.tensor([0, 1])).loss.backward()
    assert prepared.prompt_encoder["default"].embedding.weight.grad.abs().sum().item() > 0


class _RenamedCacheBackbone(torch.nn.Module):
    """A backbone whose forward takes `cache` where older releases took `past_key_values` (as BERT's from 5.24)."""

    def forward(self, input_ids=None, attention_mask=None, cache=None, **kwargs):
        return {"cache": cache, "kwargs": kwargs}


class _ModelWithRenamedCache(torch.nn.Module):
    base_model_prefix = "backbone"

    def __init__(self):
        super().__init__()
        self.backbone = _RenamedCacheBackbone()

    def forward(self, input_ids=None, labels=None):
        return self.backbone(input_ids=input_ids)


def test_the_bridge_passes_past_key_values_on_as_cache_and_changes_nothing_else():
    model = _ModelWithRenamedCache()
    assert not model_accepts_prefix(model)
    assert bridge_renamed_cache(model) and model_accepts_prefix(model)
    prefix = object()
    out = model.backbone(input_ids=1, past_key_values=prefix, output_hidden_states=False)
    assert out["cache"] is prefix and out["kwargs"] == {"output_hidden_states": False}
    assert model.backbone(input_ids=1)["cache"] is None
    bridged = model.backbone.forward
    assert bridge_renamed_cache(model) and model.backbone.forward is bridged  # applied once
    plain = BertForSequenceClassification(BertConfig(**TINY_BERT))
    forward = plain.bert.forward
    assert bridge_renamed_cache(plain) is not ENCODERS_TAKE_PAST_KEY_VALUES
    if ENCODERS_TAKE_PAST_KEY_VALUES:
        assert plain.bert.forward == forward  # a model that takes past_key_values is left as it is


def test_recipe_checks_prefix_support_before_loading_any_data(tmp_path, capsys):
    missing_data = tmp_path / "no-data-here"
    code = load_recipe("squad_bert").main(["--method", "prefix", "--smoke", "--data-dir", str(missing_data),
                                           "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "prefix tuning" not in err and str(missing_data) in err  # BERT takes the prefix: the data is the problem
    assert not (tmp_path / "out" / "efficiency_report.json").exists()
    with pytest.raises(MethodUnavailableError, match="prefix tuning cannot run on distilbert models"):
        check_prefix_support("distilbert", "QUESTION_ANS")
