"""Counts training sequences, tokens and padded positions from the batches as they enter the model (no extra data pass).

A sequence is what attends only to itself: a padded row (`attention_mask` given), or each document of a
padding-free packed row (trl's `packing=True`, `padding_free=True`, transformers' `DataCollatorWithFlattening`),
found from `cu_seq_lens_q` when the collator passes it, else from where `position_ids` restart at 0.

Trained work is what is backpropagated: only forward passes with gradients enabled count as training. A forward
under `torch.no_grad()`/`inference_mode()` while the model is in train mode (a reference model's log-probs taken
from the same weights with the adapter off, old-policy log-probs of RL trainers) goes to `untrained`, and forwards
inside `generate()` to neither (the generation phase counts them, see `peft_efficiency.trackers.generation`).
Inputs without `input_ids`/`inputs_embeds` (images, audio, custom keywords) are read by
`peft_efficiency.trackers.input_kinds`.
"""

from __future__ import annotations

import time

from dataclasses import dataclass, fields
from typing import Any

import torch

from peft_efficiency.trackers.input_kinds import ROWS_ONLY, TEXT, TOKEN_MEANING, InputReader


@dataclass
class BatchCounts:
    """What the training forward passes saw; sums over batches and processes (`a + b`).

    samples: sequences (padded rows; documents of packed rows). tokens: non-padding tokens. rows: batch rows.
    positions: rows x row width, padding included (what the Linears compute). sequence_square_sum: sum over
    sequences of (non-padding length)^2. row_square_sum: sum over rows of width^2. batches: forward passes.
    """

    samples: float = 0
    tokens: float = 0
    rows: float = 0
    positions: float = 0
    sequence_square_sum: float = 0
    row_square_sum: float = 0
    batches: float = 0

    def __add__(self, other: "BatchCounts") -> "BatchCounts":
        return BatchCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @classmethod
    def uniform(cls, samples: int, tokens: int) -> "BatchCounts":
        """Counts for `samples` unpadded rows of the mean length, when nothing more is known (forward passes unknown: 0)."""
        square_sum = tokens * tokens / samples if samples else 0.0
        return cls(samples, tokens, samples, tokens, square_sum, square_sum, 0)


_FIELDS = [f.name for f in fields(BatchCounts)]
PENDING_LENGTHS_LIMIT = 256  # padded batches whose masks wait to be reduced
PENDING_MASK_ELEMENTS = 1 << 20  # and at most this many mask elements held (8 MiB of int64), whichever comes first


class BatchCounter:
    """A forward pre-hook on the model that counts what each training forward pass sees.

    Padded rows (a 2-D `attention_mask`): one sequence per row, tokens = `attention_mask.sum()`. Padding-free
    rows (no mask): the documents delimited by `cu_seq_lens_q`, else by `position_ids` restarting at 0, else one
    sequence per row; tokens = every position. Counts derived from GPU tensors stay on the device until
    `read()`, so counting never syncs a step (CPU tensors are read at once). Forward passes in eval mode are not
    counted (unless `training_only` is False: a reference model, which stays in eval mode), nor any while
    `paused` (generation). With gradients disabled, a train-mode forward goes to `untrained`.

    Cost per padded batch: no tensor operation and no arithmetic. The hook keeps a reference to the batch's 2-D
    `attention_mask` (the collator makes a new one per batch; models read it without writing to it); the masks
    waiting are folded in at the next read, or once PENDING_LENGTHS_LIMIT batches or PENDING_MASK_ELEMENTS
    elements wait: rows and positions from their shapes, row lengths by one `sum(dim=1)` per row width (on the
    CPU summed as host ints).
    """

    def __init__(self, training_only: bool = True, split_untrained: bool = True) -> None:
        self._host = dict.fromkeys(_FIELDS, 0)
        self._device: dict[str, torch.Tensor] = {}
        self._pending_masks: list[torch.Tensor] = []  # 2-D attention masks of padded batches not yet reduced
        self._pending_elements = 0
        self._handle: Any = None
        self.training_only = training_only
        self.paused = False  # set while the model generates (or, for a reference model, outside training)
        self.untrained: BatchCounter | None = BatchCounter(split_untrained=False) if split_untrained else None
        self.reader = InputReader(None)
        self.kinds: dict[str, int] = {}  # forward passes counted, by input kind (peft_efficiency.trackers.input_kinds)
        self.untokenized_keys: tuple[str, ...] = ()  # the input keys of a forward whose tokens are not defined
        self.unreadable_keys: tuple[str, ...] | None = None  # the keys of a forward with no tensor to count
        self.hook_seconds = 0.0  # time spent in the hook itself (the plugin's own cost)

    @property
    def forward_passes(self) -> int:
        """Training forward passes counted so far (kept on the host: reading it never syncs)."""
        return int(self._host["batches"]) + len(self._pending_masks)

    @property
    def samples(self) -> int:
        """Sequences counted so far (a device sync when some are still on a GPU)."""
        return int(self.read_counts().samples)

    def attach(self, model: torch.nn.Module) -> None:
        self.detach()
        self.reader = InputReader(model)
        if self.untrained is not None:
            self.untrained.reader = self.reader
        self._handle = model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    @staticmethod
    def readable_without_sync(tensor: torch.Tensor) -> bool:
        """Whether reading `tensor` on the host is free (CPU); a GPU tensor's counts stay on the device."""
        return tensor.device.type == "cpu"

    def _add(self, name: str, value: int | torch.Tensor) -> None:
        if isinstance(value, torch.Tensor) and self.readable_without_sync(value):
            value = int(value)
        if not isinstance(value, torch.Tensor):
            self._host[name] += value
            return
        value = value.detach().to(torch.int64)
        held = self._device.get(name)
        if held is None:
            self._device[name] = value.clone()
        else:
            held.add_(value.to(held.device, non_blocking=True))

    def _hook(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        if self.paused or (self.training_only and not module.training):
            return
        began = time.perf_counter()
        try:
            counter = self if self.untrained is None or torch.is_grad_enabled() else self.untrained
            counter._count(args, kwargs)
        finally:
            self.hook_seconds += time.perf_counter() - began

    def _count(self, args: tuple, kwargs: dict) -> None:
        """Count one forward pass (the inputs are integer ids and masks: no autograd graph is built here)."""
        reference = kwargs.get("input_ids")
        if reference is None:
            reference = kwargs.get("inputs_embeds")
        if reference is None and args and isinstance(args[0], torch.Tensor):
            reference = args[0]
        if reference is None:
            self._count_other_input(kwargs)
            return
        if not isinstance(reference, torch.Tensor) or reference.dim() == 0:
            return
        shape = reference.shape
        rows, width = shape[0], shape[1] if len(shape) > 1 else 1
        mask = kwargs.get("attention_mask")
        if isinstance(mask, torch.Tensor) and mask.dim() == 2:
            if mask.shape[0] == rows and mask.shape[1] == width:  # the common case, kept short: a reference kept
                self._pending_masks.append(mask)
                self._pending_elements += rows * width
                if len(self._pending_masks) >= PENDING_LENGTHS_LIMIT or self._pending_elements >= PENDING_MASK_ELEMENTS:
                    self._fold_pending()
                return
            self._add_rows(TEXT, rows, width)  # a mask of another shape than the ids: its row lengths, now
            self._add("samples", rows)
            lengths = mask.sum(dim=1, dtype=torch.int64)
            self._add("tokens", lengths.sum())
            self._add("sequence_square_sum", (lengths * lengths).sum())
            return
        self._add_rows(TEXT, rows, width)
        self._count_unpadded(kwargs, rows, width)

    def _add_rows(self, kind: str, rows: int, width: int, batches: int = 1) -> None:
        """`batches` forward passes of `kind` inputs, `rows` rows of `width` positions in all."""
        kinds, host = self.kinds, self._host
        kinds[kind] = kinds.get(kind, 0) + batches
        host["batches"] += batches
        host["rows"] += rows
        host["positions"] += rows * width
        host["row_square_sum"] += rows * width * width

    def _count_other_input(self, kwargs: dict) -> None:
        """A forward without input_ids/inputs_embeds: samples from the batch dimension, tokens where the modality
        defines them (image patches, audio frames), else none (the keys are kept for the report's reason)."""
        reading = self.reader.read(kwargs)
        if reading is None:
            self.unreadable_keys = tuple(sorted(kwargs))
            return
        self._add_rows(reading.kind, reading.rows, reading.width)
        self._add("samples", reading.rows)
        if reading.tokens is None:
            self.untokenized_keys = reading.keys
            return
        self._add("tokens", reading.tokens)
        self._add("sequence_square_sum", reading.square_sum)

    def _count_unpadded(self, kwargs: dict, rows: int, width: int) -> None:
        """Rows without a 2-D mask: packed documents from `cu_seq_lens_q` or `position_ids`, else whole rows."""
        self._add("tokens", rows * width)
        boundaries = kwargs.get("cu_seq_lens_q")
        if isinstance(boundaries, torch.Tensor) and boundaries.dim() == 1 and boundaries.numel() > 1:
            lengths = boundaries.to(torch.int64).diff()
            self._add("samples", boundaries.numel() - 1)
            self._add("sequence_square_sum", (lengths * lengths).sum())
            return
        position_ids = kwargs.get("position_ids")
        if isinstance(position_ids, torch.Tensor) and tuple(position_ids.shape) == (rows, width):
            # a document of length s holds positions 0..s-1, and sum_{p<s} (2p + 1) = s^2
            positions = position_ids.to(torch.int64)
            self._add("samples", (positions == 0).sum())
            self._add("sequence_square_sum", (2 * positions + 1).sum())
            return
        self._add("samples", rows)
        self._add("sequence_square_sum", rows * width * width)

    def _fold_pending(self) -> None:
        """Fold the pending padded batches in: rows and positions from the masks' shapes; row lengths by one
        `sum(dim=1)` per (device, width), added to the token and square sums (on a GPU they stay there: no sync)."""
        pending, self._pending_masks, self._pending_elements = self._pending_masks, [], 0
        if not pending:
            return
        groups: dict[tuple[torch.device, int], list[torch.Tensor]] = {}
        for mask in pending:
            groups.setdefault((mask.device, mask.shape[1]), []).append(mask)
        with torch.no_grad():
            for (_, width), masks in groups.items():
                rows = sum(mask.shape[0] for mask in masks)
                self._host["samples"] += rows
                self._add_rows(TEXT, rows, width, batches=len(masks))
                lengths = (masks[0] if len(masks) == 1 else torch.cat(masks)).sum(dim=1, dtype=torch.int64)
                if self.readable_without_sync(lengths):  # a few thousand ints at most: summed on the host
                    values = lengths.tolist()
                    self._add("tokens", sum(values))
                    self._add("sequence_square_sum", sum(value * value for value in values))
                else:
                    self._add("tokens", lengths.sum())
                    self._add("sequence_square_sum", (lengths * lengths).sum())

    def read_counts(self) -> BatchCounts:
        """Everything counted so far in this process (one device sync, if some counts live on a GPU)."""
        self._fold_pending()
        totals = dict(self._host)
        if self._device:
            names = list(self._device)
            first = self._device[names[0]]
            values = torch.stack([self._device[n].to(first.device) for n in names]).tolist()
            for name, value in zip(names, values):
                totals[name] += int(value)
        return BatchCounts(**totals)

    def read(self) -> tuple[int, int]:
        """(samples, tokens) counted so far in this process (one device sync, if some counts live on a GPU)."""
        counts = self.read_counts()
        return int(counts.samples), int(counts.tokens)

    def describe(self) -> dict[str, Any]:
        """What the counts mean: training forward passes by input kind, what a token is, and why a figure is absent."""
        self._fold_pending()
        kinds = dict(self.kinds)
        described: dict[str, Any] = {"input_kinds": kinds, "tokens_are": None, "unavailable": {}}
        if not kinds:
            seen = f" (input keys seen: {', '.join(self.unreadable_keys)})" if self.unreadable_keys else ""
            described["unavailable"]["samples"] = f"no training forward pass with a tensor input was seen{seen}"
        if self.untokenized_keys or ROWS_ONLY in kinds:
            keys = ", ".join(self.untokenized_keys) or "?"
            described["unavailable"]["tokens"] = f"no token count is defined for the training inputs ({keys})"
        elif kinds:
            described["tokens_are"] = "; ".join(TOKEN_MEANING[kind] for kind in kinds)
        if kinds and set(kinds) != {TEXT}:
            described["unavailable"]["flops"] = ("the FLOPs formula covers token sequences of input_ids/inputs_embeds; "
                                                 f"the training inputs were {', '.join(kinds)}")
        return described
