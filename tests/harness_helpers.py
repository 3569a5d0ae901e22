"""Shared helpers for the lm-eval task tests: fake LMs that answer from the gold data, a tiny real causal LM."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lm_eval.api.model import LM

# Where each task keeps the gold answer of a generative document, and the label of a choice document.
GOLD_TEXT: dict[str, Callable[[dict], str]] = {
    "squad_v1": lambda doc: doc["answers"]["text"][0],
    "bibleqa": lambda doc: doc["answer"],
}
WRONG_TEXT = "zzqxj"  # shares no token with any gold answer, and no gold answer is inside it


class FakeLM(LM):
    """An LM that answers every request right (`correct=True`) or wrong, straight from the document.

    Choice tasks: the gold choice (doc["label"]) gets log-likelihood 0, the others -10 (reversed when wrong).
    Generative tasks: `answer_format` filled with the gold answer (by default the answer followed by the start
    of a next Q/A pair, as a real model writes it), or `WRONG_TEXT`.
    """

    def __init__(self, correct: bool, answer_format: str = " {gold}\n\nQ: Who") -> None:
        super().__init__()
        self.correct = correct
        self.answer_format = answer_format
        self.prompts: list[str] = []

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        out = []
        for request in requests:
            self.prompts.append(request.args[0])
            is_gold = request.idx == int(request.doc["label"])
            out.append((0.0 if is_gold == self.correct else -10.0, is_gold == self.correct))
        return out

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError("no task here asks for rolling log-likelihoods")

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        out = []
        for request in requests:
            self.prompts.append(request.args[0])
            if not self.correct:
                out.append(WRONG_TEXT)
                continue
            gold = GOLD_TEXT[request.task_name](request.doc)
            until = request.args[1].get("until") or []
            text = self.answer_format.format(gold=gold)  # a stop sequence cuts it, as a real backend would
            for stop in until:
                text = text.split(stop)[0] if stop else text
            out.append(text)
        return out


def tiny_tokenizer(texts: list[str]):
    """A byte-level BPE tokenizer (vocabulary 400) trained in-process on `texts`, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<unk>", "<eos>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<eos>", unk_token="<unk>", pad_token="<eos>")


def tiny_llama(vocab_size: int, seed: int = 0):
    """A 2-layer, hidden-32 LlamaForCausalLM with random weights, built from a config (no download)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=1,
        eos_token_id=1,
        pad_token_id=1,
    )
    return LlamaForCausalLM(config).eval()
