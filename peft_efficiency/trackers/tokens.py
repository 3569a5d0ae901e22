"""Counts training samples and non-padding tokens from the batches as they enter the model (no extra data pass)."""

from __future__ import annotations

from typing import Any

import torch


class BatchCounter:
    """A forward pre-hook on the model that counts what each training forward pass sees.

    Samples are the batch dimension of `input_ids` (or `inputs_embeds`); tokens are `attention_mask.sum()` when
    a mask is given (non-padding tokens) and `input_ids.numel()` otherwise (e.g. padding-free packing).
    The token sum stays a tensor on the batch's device until `read()`, so counting never syncs a step.
    Forward passes in eval mode are not counted.
    """

    def __init__(self) -> None:
        self.samples = 0
        self._tokens_host = 0
        self._tokens_device: torch.Tensor | None = None
        self._handle: Any = None

    def attach(self, model: torch.nn.Module) -> None:
        self.detach()
        self._handle = model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _hook(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        if not module.training:
            return
        reference = kwargs.get("input_ids")
        if reference is None:
            reference = kwargs.get("inputs_embeds")
        if reference is None and args and isinstance(args[0], torch.Tensor):
            reference = args[0]
        if not isinstance(reference, torch.Tensor) or reference.dim() == 0:
            return
        self.samples += int(reference.shape[0])
        mask = kwargs.get("attention_mask")
        if isinstance(mask, torch.Tensor) and mask.dim() == 2:
            with torch.no_grad():
                count = mask.detach().sum(dtype=torch.int64)
            self._tokens_device = count if self._tokens_device is None else self._tokens_device.add_(count)
        else:
            self._tokens_host += int(reference.shape[0]) * (int(reference.shape[1]) if reference.dim() > 1 else 1)

    def read(self) -> tuple[int, int]:
        """(samples, tokens) counted so far in this process (one device sync, if tokens live on a GPU)."""
        device_tokens = int(self._tokens_device.item()) if self._tokens_device is not None else 0
        return self.samples, self._tokens_host + device_tokens
