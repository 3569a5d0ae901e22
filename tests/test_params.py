"""count_parameters against hand-computed counts from the configs, and against peft's own figures."""

from __future__ import annotations

import pytest
import torch
from peft import IA3Config, LoHaConfig, LoraConfig, PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, TaskType, get_peft_model

from foundation_helpers import SEQ, VOCAB, tiny_bert, tiny_llama
from peft_efficiency import count_parameters
from peft_efficiency.params import adapter_size_bytes, parameter_numel

H, L, I = 32, 2, 37  # tiny_bert: hidden, layers, intermediate
HEAD = H * 2 + 2  # classifier of 2 labels
EMBEDDINGS = VOCAB * H + SEQ * H + 2 * H + 2 * H  # word, position, token type, LayerNorm
LAYER = 4 * (H * H + H) + 2 * H + (H * I + I) + (I * H + H) + 2 * H
POOLER = H * H + H
BERT_TOTAL = EMBEDDINGS + L * LAYER + POOLER + HEAD
# biases: embeddings LayerNorm; per layer q,k,v,attention-output, LayerNorm, intermediate, output, LayerNorm; pooler; classifier
BERT_BIASES = H + L * (4 * H + H + I + H + H) + H + 2


def test_plain_bert_matches_config_arithmetic():
    count = count_parameters(tiny_bert())
    assert (count.trainable, count.total) == (BERT_TOTAL, BERT_TOTAL)
    assert count.trainable_percent == 100.0
    assert count.groups["head"].total == POOLER + HEAD
    assert sum(g.total for g in count.groups.values()) == BERT_TOTAL


def test_tied_embeddings_count_once():
    model = tiny_llama()
    h, i, kv = 32, 48, 2 * (32 // 4)
    layer = h * h + 2 * h * kv + h * h + 3 * h * i + 2 * h
    expected = VOCAB * h + 2 * layer + h  # lm_head shares the embedding matrix
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert count_parameters(model).total == expected


def test_bitfit_counts_only_biases():
    model = tiny_bert()
    for name, param in model.named_parameters():
        param.requires_grad = name.endswith(".bias")
    count = count_parameters(model)
    assert count.trainable == BERT_BIASES
    assert count.groups["bias"].trainable + count.groups["head"].trainable == BERT_BIASES


PEFT_CASES = {
    # method: (config, trainable worked out by hand)
    "lora": (LoraConfig(task_type=TaskType.SEQ_CLS, r=4, target_modules=["query", "value"]), L * 2 * 4 * (H + H) + HEAD),
    "loha": (LoHaConfig(task_type=TaskType.SEQ_CLS, r=4, target_modules=["query", "value"]), L * 2 * 2 * 4 * (H + H) + HEAD),
    # "output.dense" matches attention.output.dense (in H) and output.dense (in I); feed-forward IA3 scales inputs
    "ia3": (IA3Config(task_type=TaskType.SEQ_CLS, target_modules=["key", "value", "output.dense"], feedforward_modules=["output.dense"]),
            L * (H + H + H + I) + HEAD),
    "prefix": (PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=5), 5 * L * 2 * H + HEAD),
    "ptuning": (PromptEncoderConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=5, encoder_hidden_size=16),
                5 * H + (H * 16 + 16) + (16 * 16 + 16) + (16 * H + H) + HEAD),
    "prompt": (PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=5), 5 * H + HEAD),
}


@pytest.mark.parametrize("method", sorted(PEFT_CASES))
def test_peft_methods_equal_peft_and_hand_count(method):
    config, expected_trainable = PEFT_CASES[method]
    model = get_peft_model(tiny_bert(), config)
    count = count_parameters(model)
    assert (count.trainable, count.total) == model.get_nb_trainable_parameters()
    assert count.trainable == expected_trainable
    assert sum(g.trainable for g in count.groups.values()) == count.trainable
    assert count.peft_type is not None


def test_adapter_and_prompt_groups():
    lora = count_parameters(get_peft_model(tiny_bert(), PEFT_CASES["lora"][0]))
    assert lora.groups["adapter"].trainable == L * 2 * 4 * (H + H)
    ptuning = count_parameters(get_peft_model(tiny_bert(), PEFT_CASES["ptuning"][0]))
    assert ptuning.groups["prompt_encoder"].trainable == PEFT_CASES["ptuning"][1] - HEAD


class Params4bit(torch.nn.Parameter):
    """Stands in for bitsandbytes' packed 4-bit parameter (peft recognises it by class name)."""


def test_4bit_and_zero3_rules_match_peft():
    model = get_peft_model(tiny_bert(), PEFT_CASES["lora"][0])
    dense = model.base_model.model.bert.encoder.layer[0].intermediate.dense
    packed = Params4bit(torch.zeros(H * I // 2, 1, dtype=torch.uint8), requires_grad=False)
    dense.weight = packed
    assert parameter_numel(packed) == H * I  # two 4-bit weights per byte
    empty = torch.nn.Parameter(torch.empty(0), requires_grad=False)
    empty.ds_numel = 1234
    model.base_model.model.bert.pooler.dense.register_parameter("zero3_weight", empty)
    count = count_parameters(model)
    assert (count.trainable, count.total) == model.get_nb_trainable_parameters()
    assert parameter_numel(empty) == 1234


def test_adapter_size_on_disk(tmp_path):
    model = get_peft_model(tiny_bert(), PEFT_CASES["lora"][0])
    model.save_pretrained(tmp_path)
    size = (tmp_path / "adapter_model.safetensors").stat().st_size
    assert adapter_size_bytes(tmp_path) == size
    assert count_parameters(model, adapter_dir=tmp_path).adapter_bytes == size
    assert adapter_size_bytes(tmp_path / "nowhere") is None


def test_non_model_gives_one_clear_message():
    with pytest.raises(TypeError, match="expects a torch.nn.Module.*got dict"):
        count_parameters({"not": "a model"})
