"""Where and how a run executes: processes, devices, precision, random generators, progress bars.

Every entry point resolves its machinery here, so a device string, an AMP mode or a seed means the
same everywhere.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a (possibly one-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str = "auto") -> DistributedContext:
    """Join the process group torchrun describes in the environment (WORLD_SIZE > 1): NCCL when
    training on CUDA (``device`` "auto" with a GPU, or "cuda..."), else gloo. A single process
    returns the trivial context; an already initialised group is joined as it is.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        on_cuda = torch.cuda.is_available() and (device == "auto" or device.startswith("cuda"))
        if on_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if on_cuda else "gloo", init_method="env://")
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank)


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> CUDA (this process's GPU) when available, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}") from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={name!r} but CUDA is not available; use device='cpu' or 'auto'")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


def resolve_amp(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``mode`` on ``device`` (None: full float32). "auto": bf16 on GPUs
    that compute in it (compute capability 8.0 and later), fp16 on older ones (a T4, 7.5, only
    emulates bf16, slowly), float32 on the CPU."""
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.get_device_capability(device)[0] >= 8 else torch.float16
    if mode == "fp16" and device.type != "cuda":
        raise ValueError("amp='fp16' needs a CUDA device; use amp='bf16' or 'off' on the CPU")
    return torch.bfloat16 if mode == "bf16" else torch.float16


def autocast(device: torch.device | str, amp_dtype: torch.dtype | None):
    """The autocast context of ``amp_dtype`` on ``device`` (a device or its type); None: float32, a no-op."""
    device_type = device if isinstance(device, str) else device.type
    return torch.autocast(device_type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None)


def seed_everything(seed: int) -> None:
    """Seed torch (all devices), numpy and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The loader generator's seed for ``epoch``: a function of (seed, epoch, rank) only."""
    return (seed * 1_000_003 + epoch * 7919 + rank * 104_729) % 2**63


def capture_rng_state() -> dict[str, Any]:
    """Every global RNG's state, in types ``torch.load(weights_only=True)`` accepts."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss),
            "python": random.getstate(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states only when the GPU count matches)."""
    torch.set_rng_state(state["torch"])
    kind, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    random.setstate(state["python"])
    if state.get("cuda") is not None and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def tqdm_disable(progress: bool | None, is_main: bool = True) -> bool | None:
    """tqdm's ``disable`` for a ``progress`` setting: a bar when True, none when False (or on
    ranks other than 0), and with None only when stderr is a terminal (never in a notebook)."""
    if not is_main or progress is False:
        return True
    return None if progress is None else False


def all_reduce_mean(values: torch.Tensor, ctx: DistributedContext) -> torch.Tensor:
    """The mean of ``values`` over the processes of ``ctx`` (itself in a one-process run)."""
    if ctx.enabled:
        values = values.clone()
        dist.all_reduce(values)
        values /= ctx.world_size
    return values
