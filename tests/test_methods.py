"""Method registry: trainable counts checked by hand from the config, against peft, and against the seeds' tables."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import (
    BertConfig,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    ElectraConfig,
    ElectraForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    PretrainedConfig,
    RobertaConfig,
    RobertaForSequenceClassification,
)

from peft_efficiency.methods import (
    MethodError,
    MethodUnavailableError,
    available_methods,
    model_load_kwargs,
    prepare_model,
    prefix_virtual_tokens,
    prepended_virtual_tokens,
    qlora_unavailable_reason,
)

H, LAYERS, FFN, VOCAB = 32, 2, 37, 99


def bert_cls() -> BertForSequenceClassification:
    return BertForSequenceClassification(BertConfig(vocab_size=VOCAB, hidden_size=H, num_hidden_layers=LAYERS,
                                                    num_attention_heads=2, intermediate_size=FFN, max_position_embeddings=64))


def roberta_cls() -> RobertaForSequenceClassification:
    return RobertaForSequenceClassification(RobertaConfig(vocab_size=VOCAB, hidden_size=H, num_hidden_layers=LAYERS,
                                                          num_attention_heads=2, intermediate_size=FFN, max_position_embeddings=66))


def bert_qa() -> BertForQuestionAnswering:
    return BertForQuestionAnswering(BertConfig(vocab_size=VOCAB, hidden_size=H, num_hidden_layers=LAYERS,
                                               num_attention_heads=2, intermediate_size=FFN, max_position_embeddings=64))


def gpt2_lm() -> GPT2LMHeadModel:
    return GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=H, n_layer=LAYERS, n_head=2, n_positions=64))


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# head sizes, by hand: BERT classifier Linear(H, 2); RoBERTa head dense Linear(H, H) + out_proj Linear(H, 2); QA Linear(H, 2)
BERT_HEAD = H * 2 + 2
ROBERTA_HEAD = (H * H + H) + (H * 2 + 2)


def test_unknown_method_lists_the_valid_ones() -> None:
    with pytest.raises(MethodError) as info:
        prepare_model(bert_cls(), "lorra")
    message = str(info.value)
    assert "unknown method 'lorra'" in message
    for name in ("full", "lora", "loha", "ia3", "prefix", "ptuning", "prompt", "bitfit", "qlora",
                 "embeddings_only", "encoder_only", "top_k_layers"):
        assert name in message and name in available_methods()


def test_unknown_and_invalid_options_are_one_clear_message() -> None:
    with pytest.raises(MethodError, match=r"method 'lora' has no option\(s\) rank; its options are: .*\br\b"):
        prepare_model(bert_cls(), "lora", {"rank": 4})
    with pytest.raises(MethodError, match="r must be at least 1"):
        prepare_model(bert_cls(), "lora", {"r": 0})


def test_lora_count_is_r_times_in_plus_out_per_targeted_linear_plus_head() -> None:
    r = 4
    model = prepare_model(bert_cls(), "lora", {"r": r, "target_modules": ["query", "value"]})
    by_hand = LAYERS * 2 * r * (H + H) + BERT_HEAD  # query and value are Linear(H, H) in every layer
    assert trainable(model) == by_hand == model.get_nb_trainable_parameters()[0]


def test_lora_on_gpt2_conv1d_layers_as_in_seed_003() -> None:
    r = 8
    model = prepare_model(gpt2_lm(), "lora", {"r": r, "target_modules": ["c_attn", "c_proj", "c_fc"]})
    # per block: c_attn H->3H, attn c_proj H->H, c_fc H->4H, mlp c_proj 4H->H
    by_hand = LAYERS * r * ((H + 3 * H) + (H + H) + (H + 4 * H) + (4 * H + H))
    assert trainable(model) == by_hand == model.get_nb_trainable_parameters()[0]


def test_ia3_count_is_one_vector_per_targeted_layer() -> None:
    model = prepare_model(roberta_cls(), "ia3")
    # peft's default for roberta: key, value, output.dense; output.dense is feed-forward -> scales its input (FFN);
    # "output.dense" also matches attention.output.dense (H), scaled on the output.
    by_hand = LAYERS * (H + H + FFN + H) + ROBERTA_HEAD
    assert trainable(model) == by_hand == model.get_nb_trainable_parameters()[0]


@pytest.mark.parametrize("make, head", [(bert_cls, BERT_HEAD), (roberta_cls, ROBERTA_HEAD), (bert_qa, BERT_HEAD)])
def test_prompt_tuning_is_virtual_tokens_times_hidden_plus_head(make, head) -> None:
    model = prepare_model(make(), "prompt", {"num_virtual_tokens": 5})
    assert trainable(model) == 5 * H + head == model.get_nb_trainable_parameters()[0]
    assert prepended_virtual_tokens(model) == 5
    assert prefix_virtual_tokens(model) == 0


def test_prompt_tuning_on_causal_lm_trains_only_the_prompt() -> None:
    model = prepare_model(gpt2_lm(), "prompt", {"num_virtual_tokens": 3})
    assert trainable(model) == 3 * H == model.get_nb_trainable_parameters()[0]


def test_prefix_tuning_is_two_vectors_per_layer_per_token() -> None:
    model = prepare_model(bert_qa(), "prefix", {"num_virtual_tokens": 4})
    assert trainable(model) == 4 * 2 * LAYERS * H + BERT_HEAD == model.get_nb_trainable_parameters()[0]
    assert prepended_virtual_tokens(model) == 0
    assert prefix_virtual_tokens(model) == 4  # the input's positions are numbered after the 4 prefix positions


def test_ptuning_counts_embedding_and_mlp_encoder() -> None:
    n, e = 4, 8
    model = prepare_model(bert_cls(), "ptuning", {"num_virtual_tokens": n, "encoder_hidden_size": e})
    mlp = (H * e + e) + (e * e + e) + (e * H + H)  # peft's MLP prompt encoder: H->e, e->e, e->H
    assert trainable(model) == n * H + mlp + BERT_HEAD == model.get_nb_trainable_parameters()[0]


def test_bitfit_trains_exactly_the_biases() -> None:
    model = bert_cls()
    biases = sum(p.numel() for name, p in model.named_parameters() if name.endswith(".bias"))
    prepare_model(model, "bitfit", {"train_head": False})
    assert trainable(model) == biases
    # by hand: per layer q,k,v,o (4H) + attn LN (H) + intermediate (FFN) + output (H) + LN (H); embeddings LN (H);
    # pooler (H); classifier (2)
    assert biases == LAYERS * (4 * H + H + FFN + H + H) + H + H + 2
    prepare_model(model, "bitfit")  # with the head: classifier weight joins
    assert trainable(model) == biases + H * 2


def test_bitfit_step_changes_only_biases_and_head() -> None:
    torch.manual_seed(0)
    model = prepare_model(bert_cls(), "bitfit")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optim = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    out = model(input_ids=torch.randint(0, VOCAB, (2, 7)), labels=torch.tensor([0, 1]))
    out.loss.backward()
    optim.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(n.endswith("bias") or n.startswith("classifier.") for n in changed)
    assert "bert.encoder.layer.0.attention.self.query.weight" not in changed


def test_freezing_methods_on_bert() -> None:
    emb = VOCAB * H + 64 * H + 2 * H + 2 * H  # word + position + token type + LayerNorm
    layer = 4 * (H * H + H) + 2 * H + (H * FFN + FFN) + (FFN * H + H) + 2 * H
    assert trainable(prepare_model(bert_cls(), "embeddings_only")) == emb + BERT_HEAD
    assert trainable(prepare_model(bert_cls(), "encoder_only", {"train_head": False})) == LAYERS * layer
    assert trainable(prepare_model(bert_cls(), "top_k_layers", {"k": 1})) == layer + BERT_HEAD
    full = bert_cls()
    assert trainable(prepare_model(full, "full")) == sum(p.numel() for p in full.parameters())


def test_freezing_methods_on_gpt2_with_tied_head() -> None:
    emb = VOCAB * H + 64 * H  # wte (tied with lm_head, counted once) + wpe
    assert trainable(prepare_model(gpt2_lm(), "embeddings_only")) == emb
    layer = 2 * H + (H * 3 * H + 3 * H) + (H * H + H) + 2 * H + (H * 4 * H + 4 * H) + (4 * H * H + H)
    assert trainable(prepare_model(gpt2_lm(), "encoder_only")) == LAYERS * layer


def test_lora_target_modules_absent_is_one_clear_message() -> None:
    with pytest.raises(MethodError, match=r"lora: target module\(s\) c_attn not found in BertForSequenceClassification; its linear layers are: .*query"):
        prepare_model(bert_cls(), "lora", {"target_modules": ["c_attn"]})


class NoEmbeddings(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.config = PretrainedConfig()  # an architecture peft has no defaults for
        self.dense = nn.Linear(H, 2)

    def get_input_embeddings(self) -> nn.Module:
        raise NotImplementedError


def test_prompt_tuning_without_embedding_access_is_one_clear_message() -> None:
    with pytest.raises(MethodError, match="prompt needs access to the input word embeddings of NoEmbeddings"):
        prepare_model(NoEmbeddings(), "prompt")


def test_lora_without_default_targets_names_the_layers() -> None:
    with pytest.raises(MethodError, match="peft has no default target modules for model type '' \\(NoEmbeddings\\); set target_modules to some of its linear layers: dense"):
        prepare_model(NoEmbeddings(), "lora")


def test_freezing_needs_a_layer_stack_and_k_in_range() -> None:
    with pytest.raises(MethodError, match="NoEmbeddings has no stack of transformer layers"):
        prepare_model(NoEmbeddings(), "encoder_only")
    with pytest.raises(MethodError, match="k=5 but BertForSequenceClassification has only 2 layers"):
        prepare_model(bert_cls(), "top_k_layers", {"k": 5})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_qlora_without_cuda_says_why_and_that_it_needs_a_gpu() -> None:
    reason = qlora_unavailable_reason()
    assert reason is not None
    assert "qlora cannot run here: it needs a CUDA GPU and bitsandbytes' 4-bit kernels" in reason
    assert "no CUDA GPU is visible" in reason and "must run on a GPU machine" in reason
    with pytest.raises(MethodUnavailableError) as info:
        model_load_kwargs("qlora")
    assert str(info.value) == reason
    with pytest.raises(MethodUnavailableError):
        prepare_model(bert_cls(), "qlora")
    assert model_load_kwargs("lora") == {}



# The heads peft trains as a copy (`modules_to_save`): peft_model.py's classifier_module_names for sequence
# classification ("classifier", "score") and question answering ("qa_outputs"); the LM head of a causal LM.
TRAINED_HEADS = {"classifier", "score", "qa_outputs", "lm_head"}


def llama_lm() -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB, hidden_size=H, num_hidden_layers=LAYERS, num_attention_heads=2,
                                        num_key_value_heads=2, intermediate_size=FFN))


@pytest.mark.parametrize("make", [bert_cls, roberta_cls, bert_qa, llama_lm])
@pytest.mark.requires("transformers>=5.0")  # quantizers_utils.should_convert_module
def test_qlora_quantizes_every_linear_but_the_head(make, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen on an H200: transformers' default skip list named `classifier.bias`, so BERT's classifier was loaded in 4-bit
    and peft could not train its copy ("only Tensors of floating point dtype can require gradients")."""
    import peft_efficiency.methods.qlora as qlora_module
    from transformers.quantizers.quantizers_utils import should_convert_module

    monkeypatch.setattr(qlora_module, "qlora_unavailable_reason", lambda: None)  # the kwargs only; nothing is loaded
    skip = model_load_kwargs("qlora")["quantization_config"].llm_int8_skip_modules
    linears = [name for name, module in make().named_modules() if isinstance(module, nn.Linear)]
    in_head = {name: name.split(".")[0] in TRAINED_HEADS for name in linears}
    assert any(in_head.values()) and not all(in_head.values())
    assert {name: not should_convert_module(name, skip) for name in linears} == in_head

# Published trainable/total counts, recomputed from the architectures (meta device: no weights allocated).
SEED_000_BERT_BASE_QA = {  # seed 000, Table III (bert-base-uncased, SQuAD)
    "lora": (296_450, 109_189_636),
    "ia3": (66_050, 108_959_236),
    "loha": (591_362, 109_484_548),
    "prefix": (370_178, 109_263_364),
    "ptuning": (230_914, 109_124_100),
}


@pytest.mark.parametrize("method", sorted(SEED_000_BERT_BASE_QA))
def test_seed_000_counts_with_seed_settings(method: str) -> None:
    with torch.device("meta"):
        model = prepare_model(BertForQuestionAnswering(BertConfig()), method)  # BertConfig() is bert-base-uncased
    assert model.get_nb_trainable_parameters() == SEED_000_BERT_BASE_QA[method]


def test_seed_001_bertic_lora_count() -> None:
    config = ElectraConfig(vocab_size=32_000, embedding_size=768, hidden_size=768, num_hidden_layers=12,
                           num_attention_heads=12, intermediate_size=3072)  # classla/bcms-bertic (ELECTRA base)
    with torch.device("meta"):
        model = ElectraForSequenceClassification(config)
        assert sum(p.numel() for p in model.parameters()) == 110_618_882  # seed 001, Table 2, FFT
        peft_model = prepare_model(model, "lora", {"r": 16, "lora_alpha": 32, "lora_dropout": 0.1, "bias": "lora_only"})
    assert peft_model.get_nb_trainable_parameters()[0] == 1_200_386  # seed 001, Table 2, LoRA


def test_seed_002_tinybert_group_counts() -> None:
    config = BertConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512)  # bert-tiny
    with torch.device("meta"):
        assert trainable(prepare_model(BertForSequenceClassification(config), "embeddings_only", {"train_head": False})) == 3_972_864
        assert trainable(prepare_model(BertForSequenceClassification(config), "encoder_only", {"train_head": False})) == 396_544
        model = BertForSequenceClassification(config)
        assert sum(p.numel() for p in model.parameters()) - (128 * 2 + 2) == 4_385_920  # the seed counts no classifier


def test_seed_004_roberta_base_counts() -> None:
    config = RobertaConfig(vocab_size=50_265, max_position_embeddings=514, type_vocab_size=1)  # roberta-base
    with torch.device("meta"):
        model = RobertaForSequenceClassification(config)
        assert round(sum(p.numel() for p in model.parameters()) / 1e5) == 1246  # seed 004: 124.6M
        lora = prepare_model(model, "lora", {"r": 16, "lora_alpha": 32, "target_modules": ["query", "key", "value"]})
    assert lora.get_nb_trainable_parameters()[0] == 1_476_866  # seed 004: 1.48M (recipe's inferred LoRA setting)
