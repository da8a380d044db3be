"""The process group of a training run: one process on CPU by default, PyTorch DDP under
``torchrun`` (``WORLD_SIZE`` > 1; gloo on CPU, nccl on CUDA)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass
class Distributed:
    """Process-group facts: world size, rank, device; ``active`` when running under DDP."""

    world_size: int = 1
    rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def active(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that validates and writes files."""
        return self.rank == 0


def setup_distributed(device: str) -> Distributed:
    """Join the process group when ``WORLD_SIZE`` > 1 (gloo on CPU, nccl on CUDA)."""
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if world <= 1:
        return Distributed(1, 0, dev)

    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(dev)
    return Distributed(dist.get_world_size(), dist.get_rank(), dev)


def shared_flags(ddp: Distributed, *values: bool) -> list[bool]:
    """Rank 0's decisions, shared by every process (the values of other ranks are ignored)."""
    if not ddp.active:
        return list(values)

    tensor = torch.tensor([float(v) if ddp.is_main else 0.0 for v in values], device=ddp.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [bool(v) for v in tensor.tolist()]


def wrap_model(model: torch.nn.Module, ddp: Distributed) -> torch.nn.Module:
    """The module the loop calls: ``model`` itself, or its DDP wrapper under ``torchrun``."""
    if not ddp.active:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[ddp.device.index] if ddp.device.type == "cuda" else None
    )
