"""Device and dtype as configuration (``device=auto|cpu|cuda|cuda:N``, ``train.amp=...``)."""

from __future__ import annotations

import contextlib

import torch

from worldmodel.runtime.errors import InputError


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
