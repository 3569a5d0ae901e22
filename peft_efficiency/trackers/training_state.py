"""Training state in bytes, read from the live objects: weights, gradients and optimizer state of this process.

What a run must hold between steps, whatever the device, apart from activations and allocator slack:

- weights: every parameter's bytes as stored (a shared tensor once; a 4-bit weight as its packed uint8 storage;
  under DeepSpeed ZeRO-3 this rank's partition `ds_tensor`), by dtype, trainable and frozen apart;
- gradients: the `.grad` tensors autograd actually allocated during the first optimizer step, seen by a one-shot
  hook on each trainable parameter (`register_post_accumulate_grad_hook`, removed once read: no per-step cost);
  the Trainer frees them (`zero_grad(set_to_none=True)`) before `on_step_end`, so they cannot be read there;
- optimizer state: the sum over the tensors of `optimizer.state` (AdamW: `exp_avg`, `exp_avg_sq` and a 4-byte
  `step` per parameter tensor; SGD with momentum: `momentum_buffer`; Adafactor: row and column factors). Python
  numbers in the state (Adafactor's `step`) are bookkeeping and hold no tensor memory; any other non-tensor value
  makes the figure unavailable, with the reason.

Example:
    probe = GradientProbe(); probe.attach(model)          # before the first backward
    ...                                                   # first optimizer step
    state = read_training_state(model, optimizer, probe)  # TrainingState(weights_bytes=..., ...)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

NUMBERS = (bool, int, float, type(None))


def tensor_bytes(tensor: torch.Tensor) -> int:
    """Bytes of `tensor`'s elements as stored (a ZeRO-3 parameter: its partition on this rank)."""
    stored = getattr(tensor, "ds_tensor", None)
    tensor = stored if isinstance(stored, torch.Tensor) else tensor
    return int(tensor.numel()) * int(tensor.element_size())


def _dtype_name(tensor: torch.Tensor) -> str:
    stored = getattr(tensor, "ds_tensor", None)
    return str((stored if isinstance(stored, torch.Tensor) else tensor).dtype).removeprefix("torch.")


@dataclass
class TrainingState:
    """One process's training state in bytes; a figure is None where it could not be read (`unavailable` says why)."""

    rank: int = 0
    weights_bytes: int | None = None
    trainable_weights_bytes: int | None = None
    frozen_weights_bytes: int | None = None
    weights_by_dtype: dict[str, dict[str, int]] = field(default_factory=dict)  # "trainable"/"frozen" -> dtype -> bytes
    gradients_bytes: int | None = None
    gradient_tensors: int | None = None
    optimizer_state_bytes: int | None = None
    optimizer: str | None = None
    optimizer_state_tensors: int | None = None
    optimizer_state_by_key: dict[str, int] = field(default_factory=dict)  # state key (exp_avg, ...) -> bytes
    measured_at_step: int | None = None
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def training_state_bytes(self) -> int | None:
        parts = (self.weights_bytes, self.gradients_bytes, self.optimizer_state_bytes)
        return None if any(p is None for p in parts) else sum(parts)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "training_state_bytes": self.training_state_bytes}


def weight_bytes(model: torch.nn.Module) -> tuple[int, int, dict[str, dict[str, int]]]:
    """(trainable bytes, frozen bytes, {"trainable"|"frozen": {dtype: bytes}}) over the model's unique parameters."""
    by_dtype: dict[str, dict[str, int]] = {"trainable": {}, "frozen": {}}
    for param in unique_parameters(model):
        kind = "trainable" if param.requires_grad else "frozen"
        name = _dtype_name(param)
        by_dtype[kind][name] = by_dtype[kind].get(name, 0) + tensor_bytes(param)
    return sum(by_dtype["trainable"].values()), sum(by_dtype["frozen"].values()), by_dtype


def unique_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Every parameter once (tied weights are one Parameter object; views of one storage are kept apart)."""
    seen: set[int] = set()
    params = []
    for param in model.parameters():
        if id(param) not in seen:
            seen.add(id(param))
            params.append(param)
    return params


def optimizer_state_bytes(optimizer: Any) -> tuple[int | None, dict[str, int], int, str | None]:
    """(bytes, bytes per state key, tensors counted, why unavailable) of `optimizer.state`'s tensors.

    A Python number (a step counter) holds no tensor memory and is skipped; any other non-tensor value (a list, an
    array, an object) cannot be sized honestly, so the figure is None and the reason names the key and type.
    """
    name = optimizer_name(optimizer)
    state = getattr(optimizer, "state", None)
    if state is None or not hasattr(state, "values"):
        return None, {}, 0, f"{name} has no readable `state` mapping"
    by_key: dict[str, int] = {}
    tensors = 0
    seen: set[int] = set()
    for per_param in list(state.values()):
        if not isinstance(per_param, dict):
            return None, {}, 0, f"{name}.state holds a {type(per_param).__name__}, not a dict per parameter"
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                if id(value) in seen:
                    continue
                seen.add(id(value))
                by_key[str(key)] = by_key.get(str(key), 0) + tensor_bytes(value)
                tensors += 1
            elif not isinstance(value, NUMBERS):
                return None, {}, 0, (f"{name}.state['{key}'] is a {type(value).__name__}, not a tensor; "
                                     "its memory cannot be counted")
    return sum(by_key.values()), by_key, tensors, None


def optimizer_name(optimizer: Any) -> str:
    """The class name of the optimizer, looking through wrappers (accelerate's AcceleratedOptimizer)."""
    inner = getattr(optimizer, "optimizer", None)
    return type(inner).__name__ if inner is not None and inner is not optimizer else type(optimizer).__name__


class GradientProbe:
    """One-shot hooks that record the bytes of each trainable parameter's `.grad` once autograd has filled it.

    Under gradient accumulation the micro-batches add into the same tensor, so each parameter counts once.
    `detach()` removes every hook left (called once the figure is read, and at the end of the run).
    """

    def __init__(self) -> None:
        self._handles: list[Any] = []
        self._seen: dict[int, int] = {}
        self.unavailable: str | None = None

    def attach(self, model: Any) -> None:
        self.detach()
        self._seen = {}
        self.unavailable = None
        try:
            for param in unique_parameters(model):
                if param.requires_grad:
                    self._handles.append(param.register_post_accumulate_grad_hook(self._record))
        except Exception as exc:  # noqa: BLE001 - measurement never breaks training
            self.detach()
            self.unavailable = f"gradient hooks could not be registered ({type(exc).__name__}: {exc})"

    def _record(self, param: torch.Tensor) -> None:
        grad = param.grad
        if grad is not None:
            self._seen[id(param)] = max(self._seen.get(id(param), 0), tensor_bytes(grad))

    def read(self) -> tuple[int | None, int, str | None]:
        """(bytes, tensors, why unavailable) of the gradients seen so far; then the hooks are removed."""
        self.detach()
        if self.unavailable:
            return None, 0, self.unavailable
        if not self._seen:
            return None, 0, ("no parameter's .grad was filled during the first optimizer step (a framework that keeps "
                             "its own gradient buffers, e.g. DeepSpeed, or no trainable parameter)")
        return sum(self._seen.values()), len(self._seen), None

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


def read_training_state(model: Any, optimizer: Any, probe: GradientProbe, rank: int = 0, step: int | None = None) -> TrainingState:
    """This process's `TrainingState` from the live model and optimizer, after an optimizer step."""
    result = TrainingState(rank=rank, measured_at_step=step)
    try:
        trainable, frozen, by_dtype = weight_bytes(model)
        result.trainable_weights_bytes, result.frozen_weights_bytes = trainable, frozen
        result.weights_bytes, result.weights_by_dtype = trainable + frozen, by_dtype
    except Exception as exc:  # noqa: BLE001
        result.unavailable["weights_bytes"] = f"parameters could not be read ({type(exc).__name__}: {exc})"
    grads, count, why = probe.read()
    result.gradients_bytes, result.gradient_tensors = grads, count
    if why:
        result.unavailable["gradients_bytes"] = why
    if optimizer is None:
        result.unavailable["optimizer_state_bytes"] = ("the Trainer had no optimizer at the end of the first optimizer "
                                                       "step (created lazily elsewhere?); optimizer state not counted")
    else:
        result.optimizer = optimizer_name(optimizer)
        try:
            total, by_key, tensors, why = optimizer_state_bytes(optimizer)
        except Exception as exc:  # noqa: BLE001
            total, by_key, tensors, why = None, {}, 0, f"optimizer state could not be read ({type(exc).__name__}: {exc})"
        result.optimizer_state_bytes, result.optimizer_state_by_key, result.optimizer_state_tensors = total, by_key, tensors
        if why:
            result.unavailable["optimizer_state_bytes"] = why
    if result.training_state_bytes is None:
        missing = [k for k in ("weights_bytes", "gradients_bytes", "optimizer_state_bytes") if k in result.unavailable]
        result.unavailable["training_state_bytes"] = f"needs {', '.join(missing)} (see there)"
    return result
