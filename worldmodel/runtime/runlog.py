"""Run logging: always ``metrics.jsonl`` in the run folder; wandb when asked (offline by default).

Only rank 0 logs; on other ranks every method is a no-op.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from worldmodel.runtime.errors import InputError


def import_wandb() -> ModuleType:
    """The optional wandb package, or an InputError that says how to install it (callable at
    start-up, to refuse ``logger=wandb`` before any work is done)."""
    try:
        import wandb
    except ImportError:
        raise InputError(
            "logger=wandb needs the optional package wandb, which is not installed: "
            'pip install "worldmodel[wandb]" (or use logger=none)'
        ) from None
    return wandb


class RunLogger:
    def __init__(
        self,
        run_dir: Path,
        config: dict[str, Any],
        backend: str = "none",
        *,
        enabled: bool = True,
        wandb_mode: str = "offline",
        project: str = "worldmodel",
        name: str | None = None,
    ):
        self.enabled = enabled
        self.run = None
        if not enabled:
            return
        if backend not in ("none", "wandb"):
            raise InputError(f"logger={backend!r}: choose none or wandb")
        wandb = import_wandb() if backend == "wandb" else None
        run_dir.mkdir(parents=True, exist_ok=True)
        self.file = open(run_dir / "metrics.jsonl", "a")
        self.start = time.time()
        if wandb is not None:
            os.environ.setdefault("WANDB_SILENT", "true")
            self.run = wandb.init(
                project=project, name=name, dir=str(run_dir), config=config, mode=wandb_mode
            )

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        if not self.enabled:
            return
        row = {"step": step, "time_s": round(time.time() - self.start, 2), **metrics}
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        if self.run is not None:
            self.run.log(
                {k: v for k, v in metrics.items() if isinstance(v, (int, float))}, step=step
            )

    def close(self) -> None:
        if not self.enabled:
            return
        self.file.close()
        if self.run is not None:
            self.run.finish()
