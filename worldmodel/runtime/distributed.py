"""DistributedDataParallel plumbing: rank helpers and a differentiable all-gather."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.distributed as dist

from worldmodel.runtime.errors import InputError

T = TypeVar("T")


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def init_from_env(device_type: str) -> bool:
    """Join the process group torchrun describes (WORLD_SIZE > 1); returns whether it did."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_distributed():
        return is_distributed()
    dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return True


def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` [N, ...] from every rank along dim 0, keeping gradients to the local part.

    Batch statistics (SIGReg's characteristic function, VICReg's variance and covariance) must see
    the global batch: a regularizer that sees only the local batch silently weakens with more GPUs.
    """
    if not is_distributed() or world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x.contiguous()), dim=0)


def sum_over_ranks(x: torch.Tensor) -> torch.Tensor:
    """``x`` summed over every rank (in place; ``x`` itself where there is one rank). On a GPU
    the sum is queued like any kernel: the CPU does not wait for it."""
    if is_distributed() and world_size() > 1:
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def on_main(fn: Callable[[], T]) -> T | None:
    """Run ``fn`` on rank 0 while the other ranks wait; returns its result there (None elsewhere).

    If rank 0 refuses (an :class:`InputError`, e.g. a data set of other settings), every rank
    raises the same error, so no rank is left waiting at a barrier for one that has exited.
    """
    result, error = None, None
    if rank() == 0:
        try:
            result = fn()
        except InputError as e:
            error = e
    if is_distributed():
        box = [None if error is None else str(error)]
        dist.broadcast_object_list(box, src=0)
        if box[0] is not None and error is None:
            error = InputError(box[0])
    if error is not None:
        raise error
    return result
