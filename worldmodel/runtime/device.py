"""Device and dtype as configuration (``device=auto|cpu|cuda|cuda:N``, ``train.amp=...``)."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from worldmodel.runtime.errors import InputError


def to_device(x: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host array or CPU tensor on ``device``. On CUDA the copy from pageable memory is queued
    (the CPU stages it and goes on without waiting for the GPU); elsewhere it waits, since MPS
    may read a non-blocking copy's source after it is freed."""
    t = torch.from_numpy(x) if isinstance(x, np.ndarray) else x
    return t.to(device, non_blocking=device.type == "cuda")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; anything else must be a valid torch device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(
            f"device={name!r} is not a device; use auto, cpu, cuda or cuda:N"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(
            f"device={name!r} but CUDA is not available here; use device=cpu or device=auto"
        )
    return device


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """``auto`` -> bf16 on CUDA and none on CPU; ``bf16`` -> bf16 anywhere; ``none`` -> off."""
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    if amp in ("bf16", "bfloat16"):
        return torch.bfloat16
    if amp in ("none", "fp32", "off"):
        return None
    raise InputError(f"amp={amp!r}: choose auto, bf16 or none")


def autocast(device: torch.device, dtype: torch.dtype | None):
    """An autocast context for ``dtype`` on ``device``, or a no-op when dtype is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
