"""`torchrun --nproc_per_node=1` joins a real process group (NCCL on a GPU, gloo here), so the
GPU check (tests/gpu/check.sh) exercises DDP over NCCL on a one-GPU machine; without torchrun's
variables nothing distributed happens."""
from __future__ import annotations

import socket

import torch
import torch.distributed as dist

from core.training.distributed import DistContext, init_distributed, reduce_mean, shutdown


def test_one_process_under_torchrun_joins_a_process_group(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)}.items():
        monkeypatch.setenv(key, value)
    ctx = init_distributed("cpu")
    try:
        assert ctx.enabled and ctx.is_main and ctx.world_size == 1
        assert dist.is_initialized() and dist.get_backend() == "gloo"
        assert reduce_mean(ctx, {"loss": 2.5}, torch.device("cpu")) == {"loss": 2.5}  # through all_reduce
    finally:
        shutdown(ctx)
    assert not dist.is_initialized()


def test_without_torchrun_nothing_is_distributed(monkeypatch):
    for key in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    ctx = init_distributed("cpu")
    assert ctx == DistContext() and not ctx.enabled and not dist.is_initialized()
