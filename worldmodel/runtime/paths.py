"""Where configs and caches live, in a checkout and in an installed wheel."""

from __future__ import annotations

import os
from pathlib import Path


def configs_dir() -> Path:
    """The Hydra config folder: ``<repo>/configs`` in a checkout, ``worldmodel/_configs`` in a wheel."""
    here = Path(__file__).resolve().parent.parent  # the worldmodel package
    for candidate in (here / "_configs", here.parent / "configs"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"worldmodel configs not found next to {here}: reinstall the package with `pip install .`"
    )


def cache_dir() -> Path:
    """Root of cached data sets: ``$WORLDMODEL_CACHE`` or ``~/.cache/worldmodel``."""
    root = os.environ.get("WORLDMODEL_CACHE") or Path.home() / ".cache" / "worldmodel"
    return Path(root).expanduser()
