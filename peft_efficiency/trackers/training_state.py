"""Training state in bytes, read from the live objects: weights, gradients and optimizer state of this process.

What a run must hold between steps, whatever the device, apart from activations and allocator slack:

- weights: every parameter's bytes as stored on this process (a shared tensor once; a 4-bit weight as its packed
  uint8 storage; under DeepSpeed ZeRO-3 this rank's partition `ds_tensor`; under FSDP2 this rank's shard of each
  DTensor; under FSDP1 its flat shards, padding included), by dtype, trainable and frozen apart;
- gradients: the `.grad` tensors present when the optimizer takes its first step after `GradientProbe.attach()`,
  read by a global optimizer step pre-hook (removed once read: no per-step cost); the Trainer frees them
  (`zero_grad(set_to_none=True)`) before `on_step_end`, so they cannot be read there;
- optimizer state: the sum over the tensors of `optimizer.state` (AdamW: `exp_avg`, `exp_avg_sq` and a 4-byte
  `step` per parameter tensor; SGD with momentum: `momentum_buffer`; Adafactor: row and column factors). Python
  numbers in the state (Adafactor's `step`) are bookkeeping and hold no tensor memory; any other non-tensor value
  makes the figure unavailable, with the reason.

Example:
    probe = GradientProbe(); probe.attach()               # before the first optimizer step
    ...                                                   # first optimizer step
    state = read_training_state(model, optimizer, probe)  # TrainingState(weights_bytes=..., ...)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

NUMBERS = (bool, int, float, type(None))


def tensor_bytes(tensor: torch.Tensor) -> int:
    """Bytes of `tensor`'s elements as stored on this rank (a ZeRO-3 parameter: its partition; a DTensor, as FSDP2
    and tensor parallelism shard them: its local shard, where `numel()` would give the whole tensor's size)."""
    stored = getattr(tensor, "ds_tensor", None)
    tensor = stored if isinstance(stored, torch.Tensor) else tensor
    to_local = getattr(tensor, "to_local", None)
    if callable(to_local):
        tensor = to_local()
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
    """Records the bytes of the gradients an optimizer is about to apply, at its first step after `attach()`.

    A global optimizer step pre-hook (`torch.optim.optimizer.register_optimizer_step_pre_hook`) reads the `.grad` of
    every parameter in the stepping optimizer's groups: what autograd (or FSDP's reduce-scatter, into the sharded
    parameter) left there, accumulated over the micro-batches of gradient accumulation, so each parameter counts
    once. The Trainer sets gradients to None right after the step, before any callback sees it, hence the hook.
    Records are kept per optimizer, and `read()` takes the Trainer's; `detach()` removes the hook (called once the
    figure is read, and at the end of the run).
    """

    def __init__(self) -> None:
        self._handle: Any = None
        self._seen: dict[int, tuple[int, int]] = {}  # id(optimizer) -> (bytes, tensors) at its first step
        self.unavailable: str | None = None

    def attach(self) -> None:
        self.detach()
        self._seen = {}
        self.unavailable = None
        try:
            self._handle = register_optimizer_step_pre_hook(self._record)
        except Exception as exc:  # noqa: BLE001 - measurement never breaks training
            self.unavailable = f"the optimizer step hook could not be registered ({type(exc).__name__}: {exc})"

    def _record(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if id(optimizer) in self._seen:
            return
        total, tensors, seen = 0, 0, set()
        for group in getattr(optimizer, "param_groups", []):
            for param in group.get("params", []):
                grad = getattr(param, "grad", None)
                if isinstance(grad, torch.Tensor) and id(grad) not in seen:
                    seen.add(id(grad))
                    total, tensors = total + tensor_bytes(grad), tensors + 1
        self._seen[id(optimizer)] = (total, tensors)

    def read(self, optimizer: Any = None) -> tuple[int | None, int, str | None]:
        """(bytes, tensors, why unavailable) of the gradients at `optimizer`'s first step (looking through a wrapper
        such as accelerate's AcceleratedOptimizer; without one, the only optimizer seen); then the hook is removed."""
        self.detach()
        if self.unavailable:
            return None, 0, self.unavailable
        found = self._first_step_of(optimizer)
        if found is None or found[1] == 0:
            return None, 0, ("no parameter's .grad was set when the optimizer stepped (a framework that keeps its own "
                             "gradient buffers, e.g. DeepSpeed, an optimizer that is not a torch.optim.Optimizer, or "
                             "no trainable parameter)")
        return found[0], found[1], None

    def waits_for(self, optimizer: Any) -> bool:
        """Whether `optimizer` (or the torch optimizer it wraps) has not stepped since `attach()`: a first step
        skipped (fp16's GradScaler skips `step()` when gradients overflow, and the Trainer still ends the step)."""
        inner = getattr(optimizer, "optimizer", optimizer)
        return (self._handle is not None and isinstance(inner, torch.optim.Optimizer)
                and self._first_step_of(optimizer) is None)

    def _first_step_of(self, optimizer: Any) -> tuple[int, int] | None:
        candidates = [o for o in (optimizer, getattr(optimizer, "optimizer", None)) if o is not None]
        found = next((self._seen[id(o)] for o in candidates if id(o) in self._seen), None)
        if found is None and not candidates and len(self._seen) == 1:
            found = next(iter(self._seen.values()))
        return found

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None


def read_training_state(model: Any, optimizer: Any, probe: GradientProbe, rank: int = 0, step: int | None = None) -> TrainingState:
    """This process's `TrainingState` from the live model and optimizer, after an optimizer step."""
    result = TrainingState(rank=rank, measured_at_step=step)
    try:
        trainable, frozen, by_dtype = weight_bytes(model)
        result.trainable_weights_bytes, result.frozen_weights_bytes = trainable, frozen
        result.weights_bytes, result.weights_by_dtype = trainable + frozen, by_dtype
    except Exception as exc:  # noqa: BLE001
        result.unavailable["weights_bytes"] = f"parameters could not be read ({type(exc).__name__}: {exc})"
    grads, count, why = probe.read(optimizer)
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
