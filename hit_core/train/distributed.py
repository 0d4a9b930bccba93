"""Multi-process training set-up for PyTorch's launcher (``torchrun``), one process per device.

``torchrun`` starts the processes and gives each RANK, WORLD_SIZE and LOCAL_RANK (plus
MASTER_ADDR/MASTER_PORT); the CLI reads them once into a :class:`DistributedContext`. With
one process nothing distributed is initialised, so the same command runs on one CPU.
NCCL is used between GPUs, gloo on CPUs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from hit_core.errors import ConfigError


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> DistributedContext:
        """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK (absent: a single process)."""
        try:
            rank = int(environ.get("RANK", "0"))
            world_size = int(environ.get("WORLD_SIZE", "1"))
            local_rank = int(environ.get("LOCAL_RANK", str(rank)))
        except ValueError as error:
            raise ConfigError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers ({error}); start with torchrun") from None
        if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
            raise ConfigError(f"inconsistent launch: RANK={rank} WORLD_SIZE={world_size} LOCAL_RANK={local_rank}")
        return cls(rank, world_size, local_rank)


def select_device(requested: str, context: DistributedContext) -> torch.device:
    """``auto``: this process's GPU (``cuda:LOCAL_RANK``) when CUDA is usable, else the CPU."""
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but this PyTorch sees no CUDA GPU; use train.device=cpu or auto")
    if context.local_rank >= torch.cuda.device_count():
        raise ConfigError(
            f"LOCAL_RANK {context.local_rank} but only {torch.cuda.device_count()} GPU(s) visible; "
            f"start at most one process per GPU (torchrun --nproc_per_node={torch.cuda.device_count()})"
        )
    return torch.device("cuda", context.local_rank)


def start(context: DistributedContext, device: torch.device) -> None:
    """Join the process group (env:// rendezvous set up by torchrun); nothing for a single process."""
    if not context.distributed or torch.distributed.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(
        backend=backend, init_method="env://", rank=context.rank, world_size=context.world_size
    )


def stop(context: DistributedContext, wait: bool = True) -> None:
    """Leave the process group.

    ``wait``: after a barrier, so no process exits while others still talk to it (normal end).
    After an error pass False: the others may be blocked in a different collective, and
    torchrun ends them once this process exits with the error.
    """
    if context.distributed and torch.distributed.is_initialized():
        if wait:
            torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def sum_across(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Element-wise sum of a tensor over all processes (the tensor itself for one process)."""
    if context.distributed:
        values = values.clone()
        torch.distributed.all_reduce(values, op=torch.distributed.ReduceOp.SUM)
    return values


def barrier(context: DistributedContext) -> None:
    if context.distributed:
        torch.distributed.barrier()



@contextmanager
def joined(context: DistributedContext, device: torch.device) -> Iterator[None]:
    """Inside: this process is in the process group (if there is one). Left cleanly on success,
    without waiting for the others after an error."""
    start(context, device)
    try:
        yield
    except BaseException:
        stop(context, wait=False)
        raise
    stop(context)
