"""DistributedDataParallel plumbing for `torchrun --nproc_per_node=N main.py train ...`.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; without them everything here is a no-op on a single
process. NCCL on GPUs, gloo on CPU. Rank 0 writes checkpoints and logs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launched: bool = False  # started by torchrun: DDP over a process group, even with one process

    @property
    def enabled(self) -> bool:
        return self.world_size > 1 or self.launched

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(device_type: str) -> DistContext:
    """Join the process group torchrun prepared (once); a single-process context otherwise."""
    if not launched_by_torchrun():
        return DistContext()
    ctx = DistContext(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)),
                      launched=True)
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(ctx.local_rank)
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return ctx


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def reduce_mean(ctx: DistContext, values: dict[str, float], device: torch.device) -> dict[str, float]:
    """The mean of each value over the ranks."""
    if not ctx.enabled or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= ctx.world_size
    return dict(zip(keys, t.tolist()))


def reduce_sum(ctx: DistContext, values: list[float], device: torch.device) -> list[float]:
    if not ctx.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def any_rank(ctx: DistContext, flag: bool, device: torch.device) -> bool:
    """True on every rank when it is true on one (so all ranks stop at the same iteration)."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def gather_to_main(ctx: DistContext, obj: Any) -> list[Any] | None:
    """Every rank's `obj` on rank 0 (None elsewhere)."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size if ctx.is_main else []
    dist.gather_object(obj, out if ctx.is_main else None, dst=0)
    return out if ctx.is_main else None


def broadcast_from_main(ctx: DistContext, obj: Any) -> Any:
    if not ctx.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def resolve_device(name: str | None = "auto", ctx: DistContext | None = None) -> torch.device:
    """"auto" is CUDA when present, else CPU; "cuda" without a GPU is an error naming the fix."""
    from . import TrainingError

    name = name or "auto"
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError(None, "--device cuda was asked for but no CUDA GPU is usable",
                                hint="use --device cpu, or check the NVIDIA driver with `main.py doctor`")
        return torch.device("cuda", ctx.local_rank if ctx else 0)
    return torch.device("cpu")
