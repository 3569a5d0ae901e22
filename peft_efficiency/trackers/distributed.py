"""Process-group helpers: who am I, and gathering small Python objects from every process at a boundary."""

from __future__ import annotations

from typing import Any

import torch


def is_distributed() -> bool:
    """True when a torch.distributed process group with several processes is initialized."""
    return torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1


def world_size() -> int:
    return torch.distributed.get_world_size() if is_distributed() else 1


def rank() -> int:
    return torch.distributed.get_rank() if is_distributed() else 0


def all_reduce_sum(values: list[float]) -> list[float]:
    """Element-wise sums over every process (collective: all processes must call it at the same point).

    One float64 tensor all-reduce, on the GPU under NCCL, on the CPU otherwise.
    """
    if not is_distributed():
        return list(values)
    device = torch.device("cuda", torch.cuda.current_device()) if torch.distributed.get_backend() == "nccl" else torch.device("cpu")
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
    return tensor.tolist()


def gather_objects(obj: Any) -> list[Any]:
    """Every process's `obj`, in rank order (collective: all processes must call it at the same point)."""
    if not is_distributed():
        return [obj]
    gathered: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, obj)
    return gathered
