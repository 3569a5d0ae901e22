"""Generation inside training (GRPO, RLOO, online DPO...) as a phase of its own: seconds, tokens and the shapes
its forward FLOPs follow from.

One class-level wrapper of transformers' `GenerationMixin.generate`, installed once per process, finds a listener
on the model it is called on (attribute `LISTENER_ATTRIBUTE`, set by a run session on the model it trains and on
peft's base model, removed when the run ends) and tells it when generation begins and ends. A model without a
listener generates exactly as before. Nested calls (a model whose `generate` calls the mixin's) count once.

Per call, with B rows, prompt width P (padding included) and G new positions, decoder-only with a KV cache: the
prefill runs the layers on B x P positions and the output head on the last one; each of the G - 1 decode steps
runs one position per row against the P + j cached keys. So the forward FLOPs are
    2 * W_body * B * (P + G - 1) + 2 * W_head * B * G + 4 * d * L * B * (P^2 + sum_{j=1}^{G-1} (P + j))
(W_body: multiply-adds of the Linears per position outside the output head; W_head: the head's; d, L: attention
width and layers). Generated tokens are each row's new tokens up to and including its first EOS, as trl counts
completion lengths; prompt tokens are the prompt's attention mask.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, fields
from typing import Any, Protocol

import torch

LISTENER_ATTRIBUTE = "_peft_efficiency_generation_listener"
_WRAPPED_MARK = "_peft_efficiency_wrapped"


@dataclass
class GenerationTally:
    """Sums over the `generate()` calls of a run (per process; `+` adds processes)."""

    calls: float = 0
    seconds: float = 0.0
    rows: float = 0
    prompt_tokens: float = 0
    generated_tokens: float = 0
    body_positions: float = 0  # sum of B * (P + G - 1)
    head_positions: float = 0  # sum of B * G
    attention_pairs: float = 0  # sum of B * (P^2 + sum_{j<G} (P + j))
    encoder_decoder_calls: float = 0  # calls the decoder-only formula does not cover

    def __add__(self, other: "GenerationTally") -> "GenerationTally":
        return GenerationTally(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def as_list(self) -> list[float]:
        return [float(getattr(self, f.name)) for f in fields(self)]

    def add_call(self, rows: int, prompt_width: int, new_positions: int, prompt_tokens: int, generated: int,
                 encoder_decoder: bool) -> None:
        p, g = prompt_width, new_positions
        self.calls += 1
        self.rows += rows
        self.prompt_tokens += prompt_tokens
        self.generated_tokens += generated
        self.encoder_decoder_calls += int(encoder_decoder)
        if g <= 0:
            return
        self.body_positions += rows * (p + g - 1)
        self.head_positions += rows * g
        self.attention_pairs += rows * (p * p + (g - 1) * p + (g - 1) * g // 2)


class GenerationListener(Protocol):
    def generation_started(self) -> None: ...

    def generation_finished(self, model: Any, args: tuple, kwargs: dict, output: Any, seconds: float) -> None: ...


def listen(model: Any, listener: GenerationListener | None) -> None:
    """Set (or, with None, remove) the listener on `model` and on peft's base model under it."""
    targets = [model]
    if hasattr(model, "get_base_model"):
        targets.append(model.get_base_model())
    for target in targets:
        if target is None:
            continue
        if listener is None:
            target.__dict__.pop(LISTENER_ATTRIBUTE, None)
        else:
            target.__dict__[LISTENER_ATTRIBUTE] = listener


def install_generate_wrapper() -> None:
    """Wrap `transformers.GenerationMixin.generate` once per process."""
    from transformers import GenerationMixin

    original = GenerationMixin.generate
    if getattr(original, _WRAPPED_MARK, False):
        return

    @functools.wraps(original)
    def generate(self: Any, *args: Any, **kwargs: Any) -> Any:
        listener = self.__dict__.get(LISTENER_ATTRIBUTE)
        if listener is None or getattr(listener, "generating", False):
            return original(self, *args, **kwargs)
        listener.generation_started()
        began = time.perf_counter()
        output = None
        try:
            output = original(self, *args, **kwargs)
            return output
        finally:
            listener.generation_finished(self, args, kwargs, output, time.perf_counter() - began)

    setattr(generate, _WRAPPED_MARK, True)
    GenerationMixin.generate = generate


def _eos_ids(model: Any, kwargs: dict) -> list[int]:
    config = kwargs.get("generation_config") or getattr(model, "generation_config", None)
    eos = kwargs.get("eos_token_id", getattr(config, "eos_token_id", None))
    if eos is None:
        return []
    return [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])]


def read_call(tally: GenerationTally, model: Any, args: tuple, kwargs: dict, output: Any) -> None:
    """Add one finished `generate()` call to `tally` (one device sync: generation has ended anyway)."""
    prompt = kwargs.get("input_ids", kwargs.get("inputs", args[0] if args else None))
    sequences = getattr(output, "sequences", output)
    if not isinstance(prompt, torch.Tensor) or not isinstance(sequences, torch.Tensor) or prompt.dim() != 2:
        tally.calls += 1
        return
    rows, width = int(prompt.shape[0]), int(prompt.shape[1])
    encoder_decoder = bool(getattr(getattr(model, "config", None), "is_encoder_decoder", False))
    new = sequences if encoder_decoder else sequences[:, width:]
    mask = kwargs.get("attention_mask")
    with torch.no_grad():
        prompt_tokens = int(mask.sum()) if isinstance(mask, torch.Tensor) else rows * width
        generated = _generated_tokens(new, _eos_ids(model, kwargs))
    per_row = int(new.shape[0]) // rows if rows else 1  # num_return_sequences copies of each prompt
    tally.add_call(rows * per_row, width, int(new.shape[1]), prompt_tokens * per_row, generated, encoder_decoder)


def _generated_tokens(new: torch.Tensor, eos_ids: list[int]) -> int:
    """New tokens of each row up to and including its first EOS (all of them where no EOS came)."""
    if new.numel() == 0:
        return 0
    if not eos_ids:
        return int(new.numel())
    is_eos = torch.isin(new, torch.tensor(eos_ids, device=new.device))
    width = new.shape[1]
    first = torch.where(is_eos.any(dim=1), is_eos.int().argmax(dim=1) + 1, torch.full_like(is_eos[:, 0], width, dtype=torch.long))
    return int(first.sum())
