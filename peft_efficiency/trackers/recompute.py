"""What gradient checkpointing reruns in the backward, observed once on the first training step.

Which forward work a checkpointed layer repeats depends on the checkpoint flavour: reentrant checkpointing reruns
the whole layer, torch's non-reentrant one (transformers' default) stops as soon as the tensors the backward needs
are back, so a final Linear whose output only joins the residual stream (pre-norm decoders such as Llama) is not
rerun, while one followed by a LayerNorm (post-norm encoders such as BERT) is. Rather than guess from the
architecture, a forward hook on every Linear sees which ones complete while a backward pass is under way, during
the first training forward and backward only; then the hooks are removed.
"""

from __future__ import annotations

from typing import Any

import torch

from peft_efficiency.trackers.matmuls import _linear_size, _Positions


def in_backward() -> bool:
    """Whether an autograd backward pass is running on this thread (a checkpoint's recomputation runs in one)."""
    return torch._C._current_graph_task_id() != -1


class RecomputeProbe:
    """Learns, from one training step, the multiply-adds per position rerun by checkpointing and in which layers."""

    def __init__(self) -> None:
        self._handles: list[Any] = []
        self._sizes: dict[str, int] = {}
        self._layers: dict[str, int | None] = {}
        self.recomputed: set[str] = set()
        self.observed = False

    def attach(self, model: torch.nn.Module, layers: int | None) -> None:
        self.detach()
        positions = _Positions(model, layers)
        for name, module in model.named_modules():
            size = _linear_size(module)
            if size is None:
                continue
            self._sizes[name] = size
            layer = positions.of(name)[0]
            self._layers[name] = layer if 0 <= layer < positions.layers else None
            self._handles.append(module.register_forward_hook(self._seen(name)))  # after: an early stop skips it

    def _seen(self, name: str) -> Any:
        def hook(module: torch.nn.Module, args: tuple, output: Any) -> None:
            if in_backward():
                self.recomputed.add(name)
        return hook

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def finish(self) -> None:
        """The first step is over: keep what was seen, remove the hooks."""
        self.observed = self.observed or bool(self._handles)
        self.detach()

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @property
    def token_forward(self) -> int:
        """in*out summed over the Linears rerun in the backward (per position, per training forward)."""
        return sum(self._sizes[name] for name in self.recomputed)

    @property
    def layers(self) -> int:
        """Layers with a rerun Linear: their attention is rerun too."""
        return len({self._layers[name] for name in self.recomputed if self._layers.get(name) is not None})
