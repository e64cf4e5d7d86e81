"""Checkpoints: plain data (state dicts, config dict, step), written atomically, loaded safely.

A checkpoint is a ``torch.save`` of a dict of tensors and plain Python values, read back with
``torch.load(weights_only=True)``: no arbitrary pickle is ever executed.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from worldmodel.config import Config, DataConfig, EnvConfig, ModelConfig, TrainConfig
from worldmodel.runtime.atomic import atomic_path
from worldmodel.runtime.errors import InputError

FORMAT = "worldmodel-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(InputError):
    """A checkpoint is missing, corrupt, or does not fit what it is loaded for."""


def save(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    # Serialised in memory first: torch's own file writer reports a full disk as a RuntimeError
    # without its errno, while a Python write raises OSError(ENOSPC), which atomic_path explains.
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def read(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely; a bad file raises CheckpointError naming it and the problem."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.exists():
        raise CheckpointError(
            f"{path}: no such checkpoint; train one with `python -m worldmodel.train`"
        )
    with open(path, "rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04":  # torch.save writes a zip archive; a text file is not one
        raise CheckpointError(
            f"{path}: not a worldmodel checkpoint (not a torch.save archive; it starts with "
            f"{head!r}); give the checkpoint.pt written by `python -m worldmodel.train`, or its "
            f"run folder"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (
        RuntimeError,
        EOFError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        OSError,
        ValueError,
        KeyError,  # the unpickler's reaction to some non-checkpoint bytes
        IndexError,
    ) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{path}: cannot be read as a worldmodel checkpoint (corrupt, truncated or not a "
            f"checkpoint: {first}); use an earlier checkpoint or train again"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a worldmodel checkpoint")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written by a newer worldmodel (format {payload['format_version']}); upgrade"
        )
    payload["path"] = str(path)
    return payload


def config_from_dict(d: dict[str, Any]) -> Config:
    """Rebuild the typed config stored in a checkpoint (unknown keys from other versions dropped)."""

    def pick(cls, values):
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in (values or {}).items() if k in names})

    top = pick(Config, {k: v for k, v in d.items() if k not in ("env", "data", "model", "train")})
    # a checkpoint from before data.marker_jitter had none (its default then); today's default
    # (None) depends on the world
    data = {"marker_jitter": 0.0, **(d.get("data") or {})}
    top.env, top.data = pick(EnvConfig, d.get("env")), pick(DataConfig, data)
    top.model, top.train = pick(ModelConfig, d.get("model")), pick(TrainConfig, d.get("train"))
    return top
