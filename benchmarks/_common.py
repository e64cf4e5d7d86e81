"""What every benchmark records about where and when it ran."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from worldmodel.config import GENERIC_RECIPE
from worldmodel.runtime.provenance import cpu_name, git_commit

RESULTS = Path(__file__).resolve().parent / "results"
GENERIC = [f"model.{k}={v}" for k, v in GENERIC_RECIPE.items()]
"""``worldmodel.train`` overrides that pin the generic recipe (``GENERIC_RECIPE``), for a
benchmark whose rows must not take a world's own (``WORLD_RECIPES``)."""


def machine() -> dict:
    """CPU model and cores, GPU if any, torch version, date and git commit."""
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
    }
    info["cpu"] = cpu_name()
    try:
        import torch

        info["torch"] = torch.__version__
        info["threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    info["commit"] = git_commit()
    return info


def write_json(name: str, payload: dict, out: str | None = None) -> Path:
    path = Path(out) if out else RESULTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def run_module(module: str, args: list[str], threads: int = 0, check: bool = True):
    """Print and run ``python -m module args`` as a user would, with torch's CPU threads pinned
    to ``threads`` (OMP and MKL; 0 keeps the environment's). Returns the CompletedProcess;
    ``check`` raises CalledProcessError on a non-zero status."""
    cmd = [sys.executable, "-m", module, *args]
    env = None
    if threads:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=check, env=env)
