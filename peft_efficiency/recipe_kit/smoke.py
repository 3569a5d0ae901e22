"""Smoke mode: a tiny tokenizer trained on a handful of real examples and a tiny model of the recipe model's family.

Nothing is downloaded; both are built in-process in well under a second.
"""

from __future__ import annotations

from typing import Iterable

from transformers import AutoConfig, PretrainedConfig, PreTrainedTokenizerFast

SMOKE_HIDDEN = 32
SMOKE_LAYERS = 2
SMOKE_HEADS = 2
SMOKE_FFN = 37
SMOKE_VOCAB = 400
ENCODER_FAMILIES = ("bert", "roberta", "electra")
DECODER_FAMILIES = ("gpt2",)


def smoke_tokenizer(texts: Iterable[str], family: str) -> PreTrainedTokenizerFast:
    """A WordPiece (encoders) or byte-level BPE (GPT-2) tokenizer trained on `texts`, with the family's special tokens.

    Encoders get `[CLS] A [SEP] B [SEP]` pair templates (so `sequence_ids()` and offsets work as in BERT);
    RoBERTa-family tokenizers return no token_type_ids, like the real one.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    texts = list(texts)
    if family in DECODER_FAMILIES:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=SMOKE_VOCAB, special_tokens=["<|endoftext|>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(texts, trainer)
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                       unk_token="<|endoftext|>", pad_token="<|endoftext|>")
        return fast
    if family not in ENCODER_FAMILIES:
        raise ValueError(f"no smoke tokenizer for model family {family!r}; known: {', '.join(ENCODER_FAMILIES + DECODER_FAMILIES)}")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=SMOKE_VOCAB, special_tokens=specials))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    input_names = ["input_ids", "attention_mask"] + ([] if family == "roberta" else ["token_type_ids"])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_input_names=input_names)


def smoke_config(family: str, tokenizer: PreTrainedTokenizerFast, max_length: int, **task_kwargs) -> PretrainedConfig:
    """A 2-layer, 32-wide config of `family` sized for `tokenizer` and `max_length` (plus e.g. num_labels)."""
    vocab = len(tokenizer)
    if family == "gpt2":
        return AutoConfig.for_model("gpt2", vocab_size=vocab, n_embd=SMOKE_HIDDEN, n_layer=SMOKE_LAYERS,
                                    n_head=SMOKE_HEADS, n_positions=max_length + 64, bos_token_id=tokenizer.eos_token_id,
                                    eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **task_kwargs)
    sizes = dict(vocab_size=vocab, hidden_size=SMOKE_HIDDEN, num_hidden_layers=SMOKE_LAYERS,
                 num_attention_heads=SMOKE_HEADS, intermediate_size=SMOKE_FFN, pad_token_id=tokenizer.pad_token_id,
                 max_position_embeddings=max_length + tokenizer.pad_token_id + 2)
    if family == "roberta":
        sizes["type_vocab_size"] = 1
    if family == "electra":
        sizes["embedding_size"] = SMOKE_HIDDEN
    return AutoConfig.for_model(family, **sizes, **task_kwargs)
