"""Counts training sequences, tokens and padded positions from the batches as they enter the model (no extra data pass).

A sequence is what attends only to itself: a padded row (`attention_mask` given), or each document of a
padding-free packed row (trl's `packing=True`, `padding_free=True`, transformers' `DataCollatorWithFlattening`),
found from `cu_seq_lens_q` when the collator passes it, else from where `position_ids` restart at 0.
"""

from __future__ import annotations

import time

from dataclasses import dataclass, fields
from typing import Any

import torch


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
PENDING_LENGTHS_LIMIT = 256  # padded batches whose row lengths wait to be summed (a few KiB)


class BatchCounter:
    """A forward pre-hook on the model that counts what each training forward pass sees.

    Padded rows (a 2-D `attention_mask`): one sequence per row, tokens = `attention_mask.sum()`. Padding-free
    rows (no mask): the documents delimited by `cu_seq_lens_q`, else by `position_ids` restarting at 0, else one
    sequence per row; tokens = every position. Counts derived from GPU tensors stay on the device until
    `read()`, so counting never syncs a step (CPU tensors are read at once). Forward passes in eval mode are not
    counted.

    Cost per padded batch: one reduction (the row lengths, `count_nonzero`); the token and square sums of those
    lengths are folded in at the next read, or every PENDING_LENGTHS_LIMIT batches (on the CPU as host ints).
    """

    def __init__(self) -> None:
        self._host = dict.fromkeys(_FIELDS, 0)
        self._device: dict[str, torch.Tensor] = {}
        self._pending_lengths: list[torch.Tensor] = []  # row lengths of padded batches not yet summed
        self._handle: Any = None
        self.hook_seconds = 0.0  # time spent in the hook itself (the plugin's own cost)

    @property
    def forward_passes(self) -> int:
        """Training forward passes counted so far (kept on the host: reading it never syncs)."""
        return int(self._host["batches"])

    @property
    def samples(self) -> int:
        """Sequences counted so far (a device sync when some are still on a GPU)."""
        return int(self.read_counts().samples)

    def attach(self, model: torch.nn.Module) -> None:
        self.detach()
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
        if not module.training:
            return
        began = time.perf_counter()
        try:
            self._count(args, kwargs)
        finally:
            self.hook_seconds += time.perf_counter() - began

    def _count(self, args: tuple, kwargs: dict) -> None:
        reference = kwargs.get("input_ids")
        if reference is None:
            reference = kwargs.get("inputs_embeds")
        if reference is None and args and isinstance(args[0], torch.Tensor):
            reference = args[0]
        if not isinstance(reference, torch.Tensor) or reference.dim() == 0:
            return
        rows, width = int(reference.shape[0]), int(reference.shape[1]) if reference.dim() > 1 else 1
        self._add("batches", 1)
        self._add("rows", rows)
        self._add("positions", rows * width)
        self._add("row_square_sum", rows * width * width)
        with torch.no_grad():
            self._count_sequences(kwargs, rows, width)

    def _count_sequences(self, kwargs: dict, rows: int, width: int) -> None:
        mask = kwargs.get("attention_mask")
        if isinstance(mask, torch.Tensor) and mask.dim() == 2:
            self._add("samples", rows)
            self._pending_lengths.append(torch.count_nonzero(mask, dim=1))
            if len(self._pending_lengths) >= PENDING_LENGTHS_LIMIT:
                self._fold_lengths()
            return
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

    def _fold_lengths(self) -> None:
        """Add the pending row lengths to the token and square sums (on a GPU they stay there: no sync)."""
        pending, self._pending_lengths = self._pending_lengths, []
        if not pending:
            return
        if all(self.readable_without_sync(part) for part in pending):  # a few thousand ints at most: summed on the host
            values = [value for part in pending for value in part.tolist()]
            self._add("tokens", sum(values))
            self._add("sequence_square_sum", sum(value * value for value in values))
            return
        device = pending[0].device
        with torch.no_grad():
            lengths = torch.cat([part.to(device) for part in pending]).to(torch.int64)
            self._add("tokens", lengths.sum())
            self._add("sequence_square_sum", (lengths * lengths).sum())

    def read_counts(self) -> BatchCounts:
        """Everything counted so far in this process (one device sync, if some counts live on a GPU)."""
        self._fold_lengths()
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
